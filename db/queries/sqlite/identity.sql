-- name: InsertInstance :exec
INSERT INTO instance (id, bootstrapped) VALUES (1, @bootstrapped);

-- name: CountInstances :one
SELECT count(*) FROM instance;

-- name: CreateUser :one
INSERT INTO users (username, prename, name, role, created_at)
VALUES (@username, @prename, @name, @role, @created_at)
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;

-- name: ListUsers :many
SELECT * FROM users ORDER BY id;

-- name: CreateService :one
INSERT INTO services (name, created_at)
VALUES (@name, @created_at)
RETURNING *;

-- name: GetService :one
SELECT * FROM services WHERE id = @id;

-- name: ListServices :many
SELECT * FROM services ORDER BY id;

-- name: CreateProcess :one
INSERT INTO processes (name, key_hash, key_prefix, user_id, service_id, log_level, priority, settings, revoked_at, created_at)
VALUES (@name, @key_hash, @key_prefix, @user_id, @service_id, @log_level, @priority, @settings, @revoked_at, @created_at)
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
UPDATE processes SET revoked_at = @revoked_at WHERE id = @id;

-- name: DeleteProcess :execrows
DELETE FROM processes WHERE id = @id;

-- name: CreateProfile :one
INSERT INTO profiles (name, process_id, created_at)
VALUES (@name, @process_id, @created_at)
RETURNING *;

-- name: GetProfile :one
SELECT * FROM profiles WHERE id = @id;

-- name: ListProfilesByProcess :many
SELECT * FROM profiles WHERE process_id = @process_id ORDER BY id;

-- name: ListProfiles :many
SELECT * FROM profiles ORDER BY id;

-- name: DeleteProfile :execrows
DELETE FROM profiles WHERE id = @id;
