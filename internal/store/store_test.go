package store_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trinityprice/trinity/internal/store"
)

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trinity-data", "trinity.db")
	s, err := store.Open(context.Background(), "sqlite:"+path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestOpenSQLiteRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := store.Open(context.Background(), store.DefaultDSN, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open(%s): %v", store.DefaultDSN, err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join("trinity-data", "trinity.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	f := func(dsn string, wantIn []string, notIn string) {
		t.Helper()
		s, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q): want error", dsn)
		}
		for _, w := range wantIn {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q) = %q, want it to mention %q", dsn, err, w)
			}
		}
		if notIn != "" && strings.Contains(err.Error(), notIn) {
			t.Errorf("Open(%q) = %q, leaks %q", dsn, err, notIn)
		}
	}
	f("postgres://u:s3cret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", []string{"127.0.0.1:1/test"}, "s3cret")
	f("sqlite:", []string{"sqlite:PATH"}, "")
	f("sqlite::memory:", []string{"file path"}, "")
	f("", []string{"sqlite:PATH", "postgres://"}, "")
	f("./trinity.db", []string{"sqlite:PATH", "postgres://"}, "")
	f("mysql://user:s3cret@host/db", []string{"sqlite:PATH", "postgres://", "user:xxxxx@host/db"}, "s3cret")
	f("mysql://user:p@ss@host:1/db", []string{"user:xxxxx@host:1/db"}, "p@ss")
}
