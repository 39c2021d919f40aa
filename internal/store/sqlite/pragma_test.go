package sqlite

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
)

func TestSQLitePragmas(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "trinity.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Every pooled connection must be configured, so check on several at once.
	ctx := context.Background()
	for i := range 3 {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		f := func(pragma, want string) {
			t.Helper()
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
			}
		}
		f("journal_mode", "wal")
		f("busy_timeout", "5000")
		f("foreign_keys", "1")
		f("synchronous", "1") // NORMAL
	}
}
