-- The rate-limit statements run in the store's write transactions, which
-- serialise them (one writer connection per store, and SQLite's file lock
-- across stores on the same file). A window's row is created first by
-- EnsureRateWindow; the updates then always find it.

-- name: EnsureRateWindow :exec
INSERT INTO rate_windows (key, window_start) VALUES (@key, @window_start)
ON CONFLICT (key, window_start) DO NOTHING;

-- ClaimRatePermits adds up to @want request permits to a window, never taking
-- its count beyond @lim, and returns the new count, how many permits this
-- claim obtained (last_grant) and the window's tokens.
-- name: ClaimRatePermits :one
UPDATE rate_windows
SET requests   = requests + MIN(CAST(@want AS INTEGER), MAX(CAST(@lim AS INTEGER) - requests, 0)),
    last_grant = MIN(CAST(@want AS INTEGER), MAX(CAST(@lim AS INTEGER) - requests, 0))
WHERE key = @key AND window_start = @window_start
RETURNING requests, last_grant, tokens;

-- AddRateTokens adds @n tokens to a window and returns its counts.
-- name: AddRateTokens :one
UPDATE rate_windows SET tokens = tokens + CAST(@n AS INTEGER)
WHERE key = @key AND window_start = @window_start
RETURNING requests, tokens;

-- name: GetRateWindow :one
SELECT requests, tokens FROM rate_windows WHERE key = @key AND window_start = @window_start;

-- name: DeleteRateWindowsBefore :execrows
DELETE FROM rate_windows WHERE window_start < @before;
