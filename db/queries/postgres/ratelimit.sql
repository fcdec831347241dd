-- ClaimRatePermits adds up to @want request permits to a window, never taking
-- its count beyond @lim, and returns the new count, how many permits this
-- claim obtained (last_grant) and the window's tokens. The row lock of the
-- upsert serialises concurrent claims, also from other replicas.
-- name: ClaimRatePermits :one
INSERT INTO rate_windows AS w (key, window_start, requests, last_grant, tokens)
VALUES (@key, @window_start, LEAST(@want::bigint, GREATEST(@lim::bigint, 0)), LEAST(@want::bigint, GREATEST(@lim::bigint, 0)), 0)
ON CONFLICT (key, window_start) DO UPDATE
SET requests   = w.requests + LEAST(@want::bigint, GREATEST(CAST(@lim AS bigint) - w.requests, 0)),
    last_grant = LEAST(@want::bigint, GREATEST(CAST(@lim AS bigint) - w.requests, 0))
RETURNING requests, last_grant, tokens;

-- AddRateTokens adds @n tokens to a window and returns its counts.
-- name: AddRateTokens :one
INSERT INTO rate_windows AS w (key, window_start, tokens)
VALUES (@key, @window_start, @n::bigint)
ON CONFLICT (key, window_start) DO UPDATE
SET tokens = w.tokens + @n::bigint
RETURNING requests, tokens;

-- name: GetRateWindow :one
SELECT requests, tokens FROM rate_windows WHERE key = @key AND window_start = @window_start;

-- name: DeleteRateWindowsBefore :execrows
DELETE FROM rate_windows WHERE window_start < @before;
