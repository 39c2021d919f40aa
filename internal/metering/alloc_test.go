//go:build !race

package metering_test

import (
	"context"
	"testing"
)

func TestAddAllocs(t *testing.T) {
	m := mustMeter(t, &fakeSink{})
	m.Add("key_a", 0, 0, 1, 0, t0) // a new combination may allocate
	if n := testing.AllocsPerRun(1000, func() { m.Add("key_a", 0, 0, 1, 0, t0) }); n != 0 {
		t.Errorf("Add, existing combination: %v allocs per run, want 0", n)
	}
	// After a flush the emptied map is reused: counting the same combination again in the
	// next interval does not allocate either.
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1, func() { m.Add("key_a", 0, 0, 1, 0, t0) }); n != 0 {
		t.Errorf("Add, first in a new interval: %v allocs per run, want 0", n)
	}
}
