package chart

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

func TestWritePNG(t *testing.T) {
	for _, c := range []*Chart{
		{Title: "RPS per level", XTitle: "concurrency", YTitle: "req/s", Categories: []string{"30", "90", "300"}, Bars: true,
			Series: []Series{{Name: "rps", Values: []float64{105700, 216100, 268600}, Color: Palette[0]}}},
		{Title: "RPS over time", XTitle: "seconds", YTitle: "req/s", X: []float64{1, 2, 3, 4},
			Series: []Series{{Name: "total", Values: []float64{10, 20, math.NaN(), 15}, Color: Palette[0]}, {Name: "udp-lpo", Values: []float64{5, 5, 5, 5}, Color: Palette[1]}}},
		{Title: "empty"},
	} {
		var b bytes.Buffer
		if err := c.WritePNG(&b); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&b)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() != 960 || img.Bounds().Dy() != 540 {
			t.Fatalf("size %v", img.Bounds())
		}
	}
}

func TestTicks(t *testing.T) {
	for v, want := range map[float64]float64{0.3: 0.5, 7: 10, 1200: 2000, 45000: 50000, 1: 1} {
		if got := niceStep(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 0.5: "0.5", 12: "12", 15000: "15K", 250000: "250K", 1.2e6: "1.2M"} {
		if got := compact(v); got != want {
			t.Errorf("compact(%v) = %q, want %q", v, got, want)
		}
	}
}
