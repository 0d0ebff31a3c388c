package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is the machine's, this process's and the gateway's CPU time at
// one moment, to tell how much of the machine other processes took during a
// phase: on a shared 2-core machine that explains most outliers.
type cpuSample struct {
	at          time.Time
	busy, total float64 // machine, seconds of CPU (all cores)
	self        float64 // this process, seconds of CPU
	gateway     float64 // the gateway's processes, seconds of CPU, when gatewayOK
	gatewayOK   bool
	aux         float64 // the cluster's other processes with their children, when auxOK
	auxOK       bool
}

// readCPU samples the CPU times; gatewayPID is the gateway's process when it
// is not this one (0: none).
func readCPU(gatewayPID int) cpuSample {
	var pids []int
	if gatewayPID > 0 {
		pids = []int{gatewayPID}
	}
	return readCPUs(pids, nil)
}

// readCPUs samples the CPU times with the gateways' summed (a cluster's
// nodes) and, apart, the processes the gateways use (PostgreSQL, NATS) with
// their children: PostgreSQL serves each connection from a process of its own.
func readCPUs(gatewayPIDs, auxPIDs []int) cpuSample {
	s := cpuSample{at: time.Now()}
	if len(gatewayPIDs) > 0 {
		s.gatewayOK = true
		for _, pid := range gatewayPIDs {
			g, err := procCPU(pid)
			if err != nil {
				s.gatewayOK = false
				break
			}
			s.gateway += g
		}
	}
	if len(auxPIDs) > 0 {
		s.auxOK = true
		for _, pid := range auxPIDs {
			a, err := procTreeCPU(pid)
			if err != nil {
				s.auxOK = false
				break
			}
			s.aux += a
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) >= 9 && f[0] == "cpu" {
			v := make([]float64, len(f))
			for i := 1; i < len(f); i++ {
				n, _ := strconv.ParseFloat(f[i], 64)
				v[i] = n / 100 // USER_HZ
			}
			// user nice system idle iowait irq softirq steal
			s.busy = v[1] + v[2] + v[3] + v[6] + v[7] + v[8]
			s.total = s.busy + v[4] + v[5]
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = tv(ru.Utime) + tv(ru.Stime)
	}
	return s
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// cpuUse is a phase's CPU use in cores (1.0 = one core busy all along).
type cpuUse struct {
	Seconds      float64 `json:"seconds"`
	Self         float64 `json:"self_cores"`              // this process: gateway and clients when in-process
	Gateway      float64 `json:"gateway_cores,omitempty"` // the gateway's own process, when it runs apart
	GatewayKnown bool    `json:"gateway_known"`
	Aux          float64 `json:"aux_cores,omitempty"` // -aux-pid processes (PostgreSQL, NATS) with their children
	AuxKnown     bool    `json:"aux_known,omitempty"`
	Others       float64 `json:"others_cores"` // every other process of the machine
	Idle         float64 `json:"idle_cores"`
}

// cpuBetween is the CPU use from a to b; helper is the CPU time, s, of this
// run's helper processes that ended meanwhile (not a neighbour's).
func cpuBetween(a, b cpuSample, helper float64) cpuUse {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return cpuUse{}
	}
	u := cpuUse{Seconds: wall, Self: (b.self - a.self) / wall}
	if a.gatewayOK && b.gatewayOK {
		u.Gateway, u.GatewayKnown = (b.gateway-a.gateway)/wall, true
	}
	if a.auxOK && b.auxOK {
		u.Aux, u.AuxKnown = (b.aux-a.aux)/wall, true
	}
	u.Others = max(0, (b.busy-a.busy-helper)/wall-u.Self-u.Gateway-u.Aux)
	u.Idle = max(0, (b.total-a.total)-(b.busy-a.busy)) / wall
	return u
}
