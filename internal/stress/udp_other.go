//go:build !linux

package stress

import (
	"context"
	"errors"
	"time"
)

// udpDriver is Linux only (it uses sendmmsg/recvmmsg).
type udpDriver struct{}

func newUDPDriver(context.Context, *Plan, Protocol, *recorder, int) (*udpDriver, error) {
	return nil, errors.New("the udp protocols of trinity stress need Linux (sendmmsg/recvmmsg)")
}

func (d *udpDriver) sockets() int { return 0 }

func (d *udpDriver) setLoad(int, float64, time.Time, time.Duration) []*schedule { return nil }

func (d *udpDriver) wait() {}
