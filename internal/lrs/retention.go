package lrs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/trinityprice/trinity/internal/store"
)

// pruneTimeout bounds one PruneUsage call.
const pruneTimeout = 5 * time.Minute

// RunRetention deletes usage rows and report logs older than store.Retention (93 days): once
// at start, then every interval (serve uses an hour), until ctx is done; then it returns nil.
// A failed prune is logged and retried at the next interval. It returns an error only for an
// interval that is not positive.
func (s *Service) RunRetention(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("run retention: interval %v is not positive", interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s.prune(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// prune runs one retention pass.
func (s *Service) prune(ctx context.Context) {
	before := s.now().UTC().Add(-store.Retention)
	pctx, cancel := context.WithTimeout(ctx, pruneTimeout)
	defer cancel()
	n, err := s.store.PruneUsage(pctx, before)
	switch {
	case err != nil && ctx.Err() != nil:
		// shutting down
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "usage retention failed",
			slog.Time("before", before), slog.String("err", err.Error()))
	case n > 0:
		s.log.LogAttrs(ctx, slog.LevelInfo, "usage retention",
			slog.Time("before", before), slog.Int64("deleted", n))
	}
}
