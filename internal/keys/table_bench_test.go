package keys

import (
	"strconv"
	"testing"
)

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			src := &fakeSource{}
			plains := make([][]byte, 0, n)
			for range n {
				plain, k := mustNewKey(b, "")
				src.add(k)
				plains = append(plains, []byte(plain))
			}
			tab := mustLoadedTable(b, src, discard())
			b.ReportAllocs()
			b.SetBytes(int64(PlaintextLen))
			i := 0
			for b.Loop() {
				if _, ok := tab.Lookup(plains[i]); !ok {
					b.Fatal("miss")
				}
				if i++; i == len(plains) {
					i = 0
				}
			}
		})
	}
}
