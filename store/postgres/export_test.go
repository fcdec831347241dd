package postgres

// WithoutRollup returns a Store on s's pool whose statistics read only the
// records, with the queries of before the rollups (stats.sql).
func WithoutRollup(s *Store) *Store {
	return &Store{pool: s.pool, q: s.q, log: s.log, noRollup: true}
}
