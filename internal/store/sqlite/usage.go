package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
	"github.com/trinityprice/trinity/internal/store/usage"
)

// WriteUsage adds the records' counts to the per-minute aggregates in one transaction, with
// one prepared upsert per record (so records for the same row within recs add up too). It
// checks every record first (usage.CheckRecord): an invalid one fails the call, with an
// error wrapping keys.ErrInvalid, before anything is written. It implements metering.Sink.
func (s *Store) WriteUsage(ctx context.Context, recs []metering.Record) error {
	for i, r := range recs {
		if err := usage.CheckRecord(r); err != nil {
			return fmt.Errorf("write usage: record %d: %w", i, err)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx,
			`INSERT INTO usage_minute (key_id, minute, protocol, endpoint, asset, outcome, count)
			 VALUES (?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (key_id, minute, protocol, endpoint, asset, outcome)
			 DO UPDATE SET count = usage_minute.count + excluded.count`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range recs {
			if _, err := st.ExecContext(ctx, r.KeyID, r.Minute, r.Protocol, r.Endpoint, r.Asset, r.Outcome, r.Count); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write usage (%d records): %w", len(recs), err)
	}
	return nil
}

// quotaOutcomesIn returns "(?, ?, …)" and usage.QuotaOutcomes as arguments, for
// "outcome IN …".
func quotaOutcomesIn() (string, []any) {
	args := make([]any, len(usage.QuotaOutcomes))
	for i, o := range usage.QuotaOutcomes {
		args[i] = o
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")", args
}

// MonthUsage returns, per key ID, the requests of month m with an outcome in
// usage.QuotaOutcomes.
func (s *Store) MonthUsage(ctx context.Context, m limits.MonthID) (map[string]int64, error) {
	from, to := usage.MonthMinutes(m)
	in, args := quotaOutcomesIn()
	rows, err := s.db.QueryContext(ctx,
		`SELECT key_id, sum(count) FROM usage_minute
		 WHERE minute >= ? AND minute < ? AND outcome IN `+in+`
		 GROUP BY key_id`,
		append([]any{from, to}, args...)...)
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
// order).
func (s *Store) Usage(ctx context.Context, q usage.Query) ([]usage.Row, string, error) {
	if err := usage.CheckKeyID(q.KeyID); err != nil {
		return nil, "", fmt.Errorf("usage: %w", err)
	}
	if err := usage.CheckLimit(q.Limit); err != nil {
		return nil, "", fmt.Errorf("usage of %s: %w", q.KeyID, err)
	}
	from, to := usage.MinuteFrom(q.From, 0), usage.MinuteFrom(q.To, math.MaxInt64)
	const cols = `SELECT minute, protocol, endpoint, asset, outcome, count FROM usage_minute `
	const order = ` ORDER BY key_id, minute, protocol, endpoint, asset, outcome LIMIT ?`
	var (
		rows *sql.Rows
		err  error
	)
	if q.Cursor == "" {
		rows, err = s.db.QueryContext(ctx,
			cols+`WHERE key_id = ? AND minute >= ? AND minute < ?`+order,
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
		rows, err = s.db.QueryContext(ctx,
			cols+`WHERE key_id = ? AND minute >= ? AND minute < ?
			 AND (minute, protocol, endpoint, asset, outcome) > (?, ?, ?, ?, ?)`+order,
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
	in, args := quotaOutcomesIn()
	rows, err := s.db.QueryContext(ctx,
		`SELECT minute / ? AS day, sum(count), sum(CASE WHEN outcome IN `+in+` THEN count ELSE 0 END)
		 FROM usage_minute WHERE key_id = ? AND minute >= ? AND minute < ?
		 GROUP BY day ORDER BY day`,
		append(append([]any{usage.MinutesPerDay}, args...),
			keyID, usage.MinuteFrom(from, 0), usage.MinuteFrom(to, math.MaxInt64))...)
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

// LogReport stores r and counts r.KeyID's reports in r.At's UTC month, in one transaction
// (which holds the write lock, so concurrent calls count one after the other).
func (s *Store) LogReport(ctx context.Context, r usage.ReportLog) (int, error) {
	if err := usage.CheckReportLog(r); err != nil {
		return 0, fmt.Errorf("log report: %w", err)
	}
	m := limits.MonthOf(r.At)
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO report_log (key_id, at, report, format, protocol, status) VALUES (?, ?, ?, ?, ?, ?)`,
			r.KeyID, r.At.UTC().Format(timeLayout), r.Report, r.Format, r.Protocol, r.Status)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx,
			`SELECT count(*) FROM report_log WHERE key_id = ? AND at >= ? AND at < ?`,
			r.KeyID, m.Start().Format(timeLayout), m.Next().Start().Format(timeLayout)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("log report of %s: %w", r.KeyID, err)
	}
	return n, nil
}

// textBounds returns from and to as timeLayout text, "" and "~" (which sort before and
// after every time) for zero times.
func textBounds(from, to time.Time) (string, string) {
	lo, hi := "", "~"
	if !from.IsZero() {
		lo = from.UTC().Format(timeLayout)
	}
	if !to.IsZero() {
		hi = to.UTC().Format(timeLayout)
	}
	return lo, hi
}

// ReportLogs returns keyID's report requests in [from, to), newest first, at most limit.
func (s *Store) ReportLogs(ctx context.Context, keyID string, from, to time.Time, limit int) ([]usage.ReportLog, error) {
	if err := usage.CheckKeyID(keyID); err != nil {
		return nil, fmt.Errorf("report logs: %w", err)
	}
	if err := usage.CheckLimit(limit); err != nil {
		return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
	}
	lo, hi := textBounds(from, to)
	rows, err := s.db.QueryContext(ctx,
		`SELECT at, key_id, report, format, protocol, status FROM report_log
		 WHERE key_id = ? AND at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT ?`,
		keyID, lo, hi, limit)
	if err != nil {
		return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
	}
	defer rows.Close()
	var out []usage.ReportLog
	for rows.Next() {
		var (
			r  usage.ReportLog
			at string
		)
		if err := rows.Scan(&at, &r.KeyID, &r.Report, &r.Format, &r.Protocol, &r.Status); err != nil {
			return nil, fmt.Errorf("report logs of %s: %w", keyID, err)
		}
		if r.At, err = time.Parse(timeLayout, at); err != nil {
			return nil, fmt.Errorf("report logs of %s: at: %w", keyID, err)
		}
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_minute WHERE minute < ?`, usage.MinuteFrom(before, 0))
		if err != nil {
			return err
		}
		a, err := res.RowsAffected()
		if err != nil {
			return err
		}
		lo, _ := textBounds(before, time.Time{})
		res, err = tx.ExecContext(ctx, `DELETE FROM report_log WHERE at < ?`, lo)
		if err != nil {
			return err
		}
		b, err := res.RowsAffected()
		n = a + b
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune usage before %v: %w", before, err)
	}
	return n, nil
}

// tierColumns lists the tiers columns scanTiers reads, in its order.
const tierColumns = "name, monthly_quota, qps, burst, min_wait_us, reports_per_month"

// Tiers returns every tier, ordered by name.
func (s *Store) Tiers(ctx context.Context) ([]limits.Tier, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tierColumns+` FROM tiers ORDER BY name`)
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tiers (`+tierColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (name) DO UPDATE SET monthly_quota = excluded.monthly_quota,
			   qps = excluded.qps, burst = excluded.burst, min_wait_us = excluded.min_wait_us,
			   reports_per_month = excluded.reports_per_month`,
			t.Name, t.MonthlyQuota, t.QPS, t.Burst, t.MinWait.Microseconds(), t.ReportsPerMonth)
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

// SetKeyTier moves the key idOrPrefix names (as in RevokeKey) to tier, which must be a row
// of tiers (else an error wrapping keys.ErrInvalid), and bumps the keys version if the tier
// changed. It returns the key as changed.
func (s *Store) SetKeyTier(ctx context.Context, idOrPrefix, tier string) (keys.Key, error) {
	var k keys.Key
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.findKey(ctx, tx, idOrPrefix); err != nil {
			return err
		}
		var exists bool
		err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tiers WHERE name = ?)`, tier).Scan(&exists)
		if err != nil {
			return err
		}
		if !exists {
			return usage.Invalid("unknown tier %q", tier)
		}
		if k.Tier == tier {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET tier = ? WHERE id = ?`, tier, k.ID); err != nil {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.findKey(ctx, tx, idOrPrefix); err != nil {
			return err
		}
		if k.Quota == quota {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET quota = ? WHERE id = ?`, quota, k.ID); err != nil {
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
