package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/store/usage"
)

// WriteUsage adds the records' counts to the per-minute aggregates with one INSERT … SELECT
// FROM unnest(arrays) … ON CONFLICT DO UPDATE, a single statement whatever the number of
// records. Records for the same row are summed first (one statement may not update a row
// twice), and rows are upserted in primary-key order, minute first, so that instances
// writing at once take row locks in the same order. It checks every record first
// (usage.CheckRecord): an invalid one fails the call, with an error wrapping
// keys.ErrInvalid, before anything is written. It implements metering.Sink.
func (s *Store) WriteUsage(ctx context.Context, recs []metering.Record) error {
	for i, r := range recs {
		if err := usage.CheckRecord(r); err != nil {
			return fmt.Errorf("write usage: record %d: %w", i, err)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	var (
		ids       = make([]string, len(recs))
		minutes   = make([]int64, len(recs))
		protocols = make([]string, len(recs))
		endpoints = make([]string, len(recs))
		assets    = make([]string, len(recs))
		outcomes  = make([]string, len(recs))
		counts    = make([]int64, len(recs))
	)
	for i, r := range recs {
		ids[i], minutes[i], protocols[i], endpoints[i] = r.KeyID, r.Minute, r.Protocol, r.Endpoint
		assets[i], outcomes[i], counts[i] = r.Asset, r.Outcome, r.Count
	}
	// One statement is atomic on its own: no explicit transaction needed.
	_, err := s.pool.Exec(ctx,
		`INSERT INTO usage_minute AS u (key_id, minute, protocol, endpoint, asset, outcome, count)
		 SELECT k, m, p, e, a, o, sum(c)::bigint
		 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
		      AS r (k, m, p, e, a, o, c)
		 GROUP BY m, k, p, e, a, o
		 ORDER BY m, k COLLATE "C", p COLLATE "C", e COLLATE "C", a COLLATE "C", o COLLATE "C"
		 ON CONFLICT (key_id, minute, protocol, endpoint, asset, outcome)
		 DO UPDATE SET count = u.count + excluded.count`,
		ids, minutes, protocols, endpoints, assets, outcomes, counts)
	if err != nil {
		return fmt.Errorf("write usage (%d records): %w", len(recs), err)
	}
	return nil
}

// MonthUsage returns, per key ID, the requests of month m with an outcome in
// usage.QuotaOutcomes.
func (s *Store) MonthUsage(ctx context.Context, m limits.MonthID) (map[string]int64, error) {
	from, to := usage.MonthMinutes(m)
	rows, err := s.pool.Query(ctx,
		`SELECT key_id, sum(count)::bigint FROM usage_minute
		 WHERE minute >= $1 AND minute < $2 AND outcome = ANY ($3::text[])
		 GROUP BY key_id`,
		from, to, usage.QuotaOutcomes)
	if err != nil {
		return nil, fmt.Errorf("month usage %s: %w", m, err)
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var (
			id string
			n  int64
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("month usage %s: %w", m, err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("month usage %s: %w", m, err)
	}
	return out, nil
}

// Usage returns one page of q.KeyID's rows in primary-key order (see store.UsageStore). It
// reads at most q.Limit+1 rows along the primary key, starting after the cursor (key_id,
// fixed by the WHERE clause, leads the ORDER BY so that it is exactly the primary key's
// order; the row comparison with the cursor is the index scan's start condition).
func (s *Store) Usage(ctx context.Context, q usage.Query) ([]usage.Row, string, error) {
	if err := usage.CheckKeyID(q.KeyID); err != nil {
		return nil, "", fmt.Errorf("usage: %w", err)
	}
	if err := usage.CheckLimit(q.Limit); err != nil {
		return nil, "", fmt.Errorf("usage of %s: %w", q.KeyID, err)
	}
	from, to := usage.MinuteFrom(q.From, 0), usage.MinuteFrom(q.To, math.MaxInt64)
	const cols = `SELECT minute, protocol, endpoint, asset, outcome, count FROM usage_minute `
	const order = ` ORDER BY key_id, minute, protocol, endpoint, asset, outcome LIMIT `
	var (
		rows pgx.Rows
		err  error
	)
	if q.Cursor == "" {
		rows, err = s.pool.Query(ctx,
			cols+`WHERE key_id = $1 AND minute >= $2 AND minute < $3`+order+`$4`,
			q.KeyID, from, to, q.Limit+1)
	} else {
		c, cerr := usage.ParseCursor(q.Cursor)
		if cerr != nil {
			return nil, "", fmt.Errorf("usage of %s: %w", q.KeyID, cerr)
		}
		// The cursor's minute is also the lower bound of the minute range, so that the index
		// scan starts there whether or not the planner uses the row comparison to start it
		// (SQLite does not, and would scan every row of the earlier pages again).
		from = max(from, c.Minute)
		rows, err = s.pool.Query(ctx,
			cols+`WHERE key_id = $1 AND minute >= $2 AND minute < $3
			 AND (minute, protocol, endpoint, asset, outcome) > ($4, $5, $6, $7, $8)`+order+`$9`,
			q.KeyID, from, to, c.Minute, c.Protocol, c.Endpoint, c.Asset, c.Outcome, q.Limit+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("usage of %s: %w", q.KeyID, err)
	}
	defer rows.Close()
	out := make([]usage.Row, 0, min(q.Limit+1, 1024))
	for rows.Next() {
		var (
			r      usage.Row
			minute int64
		)
		if err := rows.Scan(&minute, &r.Protocol, &r.Endpoint, &r.Asset, &r.Outcome, &r.Count); err != nil {
			return nil, "", fmt.Errorf("usage of %s: %w", q.KeyID, err)
		}
		r.Minute = usage.MinuteTime(minute)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("usage of %s: %w", q.KeyID, err)
	}
	if len(out) <= q.Limit {
		return out, "", nil
	}
	out = out[:q.Limit]
	return out, usage.CursorOf(out[len(out)-1]).String(), nil
}

// DailyUsage returns keyID's totals per UTC day in [from, to), summed by the database.
func (s *Store) DailyUsage(ctx context.Context, keyID string, from, to time.Time) ([]usage.Day, error) {
	if err := usage.CheckKeyID(keyID); err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	rows, err := s.pool.Query(ctx,
		`SELECT minute / $1 AS day, sum(count)::bigint,
		        coalesce(sum(count) FILTER (WHERE outcome = ANY ($2::text[])), 0)::bigint
		 FROM usage_minute WHERE key_id = $3 AND minute >= $4 AND minute < $5
		 GROUP BY day ORDER BY day`,
		int64(usage.MinutesPerDay), usage.QuotaOutcomes, keyID,
		usage.MinuteFrom(from, 0), usage.MinuteFrom(to, math.MaxInt64))
	if err != nil {
		return nil, fmt.Errorf("daily usage of %s: %w", keyID, err)
	}
	defer rows.Close()
	var out []usage.Day
	for rows.Next() {
		var (
			d   usage.Day
			day int64
		)
		if err := rows.Scan(&day, &d.Requests, &d.Quota); err != nil {
			return nil, fmt.Errorf("daily usage of %s: %w", keyID, err)
		}
		d.Day = usage.MinuteTime(day * usage.MinutesPerDay)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily usage of %s: %w", keyID, err)
	}
	return out, nil
}

// reportLockKey returns the transaction-level advisory lock key that serialises LogReport
// calls for keyID: the FNV-1a hash of "trinity report " and the key ID.
func reportLockKey(keyID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("trinity report "))
	h.Write([]byte(keyID))
	return int64(h.Sum64())
}

// LogReport stores r and counts r.KeyID's reports in r.At's UTC month, in one transaction.
// The transaction first takes an advisory lock for the key, so that concurrent calls (on
// any instance) count one after the other and never return the same count.
func (s *Store) LogReport(ctx context.Context, r usage.ReportLog) (int, error) {
	if err := usage.CheckReportLog(r); err != nil {
		return 0, fmt.Errorf("log report: %w", err)
	}
	m := limits.MonthOf(r.At)
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, reportLockKey(r.KeyID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO report_log (key_id, at, report, format, protocol, status) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.KeyID, r.At.UTC().Truncate(time.Microsecond), r.Report, r.Format, r.Protocol, r.Status)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx,
			`SELECT count(*) FROM report_log WHERE key_id = $1 AND at >= $2 AND at < $3`,
			r.KeyID, m.Start(), m.Next().Start()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("log report of %s: %w", r.KeyID, err)
	}
	return n, nil
}

// farFuture stands for an unbounded upper time bound.
var farFuture = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

// ReportLogs returns keyID's report requests in [from, to), newest first, at most limit.
func (s *Store) ReportLogs(ctx context.Context, keyID string, from, to time.Time, limit int) ([]usage.ReportLog, error) {
	if err := usage.CheckKeyID(keyID); err != nil {
		return nil, fmt.Errorf("report logs: %w", err)
	}
	if err := usage.CheckLimit(limit); err != nil {
		return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
	}
	if to.IsZero() {
		to = farFuture
	}
	rows, err := s.pool.Query(ctx,
		`SELECT at, key_id, report, format, protocol, status FROM report_log
		 WHERE key_id = $1 AND at >= $2 AND at < $3 ORDER BY at DESC, id DESC LIMIT $4`,
		keyID, from.UTC(), to.UTC(), limit) // the zero from is 0001-01-01, which PostgreSQL holds
	if err != nil {
		return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
	}
	defer rows.Close()
	var out []usage.ReportLog
	for rows.Next() {
		var r usage.ReportLog
		if err := rows.Scan(&r.At, &r.KeyID, &r.Report, &r.Format, &r.Protocol, &r.Status); err != nil {
			return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
		}
		r.At = r.At.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
	}
	return out, nil
}

// PruneUsage deletes, in one transaction, the usage rows of minutes starting before before
// and the report logs older than before, and returns how many rows went.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := tx.Exec(ctx, `DELETE FROM usage_minute WHERE minute < $1`, usage.MinuteFrom(before, 0))
		if err != nil {
			return err
		}
		b, err := tx.Exec(ctx, `DELETE FROM report_log WHERE at < $1`, before.UTC())
		if err != nil {
			return err
		}
		n = a.RowsAffected() + b.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune usage before %v: %w", before, err)
	}
	return n, nil
}

// tierColumns lists the tiers columns Tiers reads, in its order.
const tierColumns = "name, monthly_quota, qps, burst, min_wait_us, reports_per_month"

// Tiers returns every tier, ordered by name (as bytes).
func (s *Store) Tiers(ctx context.Context) ([]limits.Tier, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tierColumns+` FROM tiers ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read tiers: %w", err)
	}
	defer rows.Close()
	var out []limits.Tier
	for rows.Next() {
		var (
			t  limits.Tier
			us int64
		)
		if err := rows.Scan(&t.Name, &t.MonthlyQuota, &t.QPS, &t.Burst, &us, &t.ReportsPerMonth); err != nil {
			return nil, fmt.Errorf("read tiers: %w", err)
		}
		t.MinWait = time.Duration(us) * time.Microsecond
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tiers: %w", err)
	}
	return out, nil
}

// PutTier creates or replaces the tier t.Name and bumps the keys version. An invalid t
// (usage.CheckTier) returns an error wrapping keys.ErrInvalid.
func (s *Store) PutTier(ctx context.Context, t limits.Tier) error {
	if err := usage.CheckTier(t); err != nil {
		return fmt.Errorf("put tier: %w", err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO tiers (`+tierColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
			 ON CONFLICT (name) DO UPDATE SET monthly_quota = excluded.monthly_quota,
			   qps = excluded.qps, burst = excluded.burst, min_wait_us = excluded.min_wait_us,
			   reports_per_month = excluded.reports_per_month`,
			t.Name, t.MonthlyQuota, t.QPS, int64(t.Burst), t.MinWait.Microseconds(), int64(t.ReportsPerMonth))
		if err != nil {
			return err
		}
		return bumpKeysVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("put tier %s: %w", t.Name, err)
	}
	return nil
}

// lockKey re-reads the key with ID id, locking its row until tx ends, so that a change
// computed from it is not based on a row another transaction changed meanwhile.
func lockKey(ctx context.Context, tx pgx.Tx, id string) (keys.Key, error) {
	ks, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return keys.Key{}, err
	}
	if len(ks) != 1 {
		return keys.Key{}, keys.ErrNotFound // keys are never deleted; kept for safety
	}
	return ks[0], nil
}

// SetKeyTier moves the key idOrPrefix names (as in RevokeKey) to tier, which must be a row
// of tiers (else an error wrapping keys.ErrInvalid), and bumps the keys version if the tier
// changed. It returns the key as changed.
func (s *Store) SetKeyTier(ctx context.Context, idOrPrefix, tier string) (keys.Key, error) {
	var k keys.Key
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		found, err := findKey(ctx, tx, idOrPrefix)
		if err != nil {
			return err
		}
		if !usage.Storable(tier) {
			return usage.Invalid("unknown tier %q", tier)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tiers WHERE name = $1)`, tier).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return usage.Invalid("unknown tier %q", tier)
		}
		if k, err = lockKey(ctx, tx, found.ID); err != nil {
			return err
		}
		if k.Tier == tier {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET tier = $1 WHERE id = $2`, tier, k.ID); err != nil {
			if isForeignKeyViolation(err) { // the tier went meanwhile (tiers are never deleted)
				return usage.Invalid("unknown tier %q", tier)
			}
			return err
		}
		k.Tier = tier
		return bumpKeysVersion(ctx, tx)
	})
	if err != nil {
		return keys.Key{}, fmt.Errorf("set tier of key %q: %w", idOrPrefix, err)
	}
	return k, nil
}

// SetKeyQuota sets the monthly quota override (0: the tier's) of the key idOrPrefix names (as
// in RevokeKey), and bumps the keys version if it changed. A negative quota returns an error
// wrapping keys.ErrInvalid. It returns the key as changed.
func (s *Store) SetKeyQuota(ctx context.Context, idOrPrefix string, quota int64) (keys.Key, error) {
	if quota < 0 {
		return keys.Key{}, fmt.Errorf("set quota of key %q: %w", idOrPrefix, usage.Invalid("negative quota %d", quota))
	}
	var k keys.Key
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		found, err := findKey(ctx, tx, idOrPrefix)
		if err != nil {
			return err
		}
		if k, err = lockKey(ctx, tx, found.ID); err != nil {
			return err
		}
		if k.Quota == quota {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET quota = $1 WHERE id = $2`, quota, k.ID); err != nil {
			return err
		}
		k.Quota = quota
		return bumpKeysVersion(ctx, tx)
	})
	if err != nil {
		return keys.Key{}, fmt.Errorf("set quota of key %q: %w", idOrPrefix, err)
	}
	return k, nil
}

// isForeignKeyViolation reports whether err is PostgreSQL's foreign_key_violation.
func isForeignKeyViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23503"
}
