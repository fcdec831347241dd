-- name: InsertInstance :exec
INSERT INTO instance (id) VALUES (1);

-- name: Initialized :one
SELECT EXISTS (SELECT 1 FROM instance) AS initialized;

-- name: CreateUser :one
INSERT INTO users (username, prename, name, role)
VALUES (@username, @prename, @name, @role)
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;

-- name: ListUsers :many
SELECT * FROM users ORDER BY id;

-- name: CreateService :one
INSERT INTO services (name) VALUES (@name) RETURNING *;

-- name: GetService :one
SELECT * FROM services WHERE id = @id;

-- name: ListServices :many
SELECT * FROM services ORDER BY id;

-- name: CreateProcess :one
INSERT INTO processes (name, key_hash, key_prefix, user_id, service_id, log_level, priority, settings)
VALUES (@name, @key_hash, @key_prefix, sqlc.narg(user_id), sqlc.narg(service_id), @log_level, @priority, @settings)
RETURNING *;

-- name: GetProcess :one
SELECT * FROM processes WHERE id = @id;

-- name: GetProcessByName :one
SELECT * FROM processes WHERE name = @name;

-- name: GetProcessByKeyHash :one
SELECT * FROM processes WHERE key_hash = @key_hash;

-- name: ListProcesses :many
SELECT * FROM processes ORDER BY id;

-- name: UpdateProcess :one
UPDATE processes
SET name = @name, log_level = @log_level, priority = @priority, settings = @settings
WHERE id = @id
RETURNING *;

-- name: SetProcessKey :execrows
UPDATE processes
SET key_hash = @key_hash, key_prefix = @key_prefix, revoked_at = NULL
WHERE id = @id;

-- name: RevokeProcessKey :execrows
UPDATE processes
SET revoked_at = COALESCE(sqlc.narg(revoked_at)::timestamptz, now())
WHERE id = @id;

-- name: DeleteProcess :execrows
DELETE FROM processes WHERE id = @id;

-- name: CreateProfile :one
INSERT INTO profiles (name, process_id) VALUES (@name, @process_id) RETURNING *;

-- name: GetProfile :one
SELECT * FROM profiles WHERE id = @id;

-- name: ListProfiles :many
SELECT * FROM profiles WHERE process_id = @process_id ORDER BY id;

-- name: ListAllProfiles :many
SELECT * FROM profiles ORDER BY id;

-- name: DeleteProfile :execrows
DELETE FROM profiles WHERE id = @id;
