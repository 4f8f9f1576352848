package node

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsRegistry is the node's Prometheus registry: its own, not the
// process-wide default, so that two nodes in one process do not collide.
func (n *Node) metricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, f func() uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "cohort", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	counter("transport_frames_received_total", "Engine frames received on task streams.", n.stats.FramesIn.Load)
	counter("transport_frames_sent_total", "Engine frames sent on task streams.", n.stats.FramesOut.Load)
	counter("transport_received_bytes_total", "Bytes of engine frames received.", n.stats.BytesIn.Load)
	counter("transport_sent_bytes_total", "Bytes of engine frames sent.", n.stats.BytesOut.Load)
	counter("transport_messages_received_total", "Engine messages received whole.", n.stats.MessagesIn.Load)
	counter("transport_messages_sent_total", "Engine messages sent.", n.stats.MessagesOut.Load)
	counter("transport_refused_frames_total", "Malformed or replayed frames that closed a stream.", n.stats.Refused.Load)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cohort", Name: "ledger_entries",
		Help: "Entries in the node's ledger."}, func() float64 { return float64(n.ledger.Size()) }))
	if n.tasks != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cohort", Name: "participants_connected",
			Help: "Participants with a task stream open to this aggregator."}, func() float64 { return float64(len(n.tasks.Connected())) }))
	}
	if n.jobs != nil {
		states := []string{"queued", "running", "finished", "failed", "cancelled"}
		for _, s := range states {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "cohort", Name: "jobs",
				Help: "Jobs known to this aggregator, by state.", ConstLabels: prometheus.Labels{"state": s}},
				func() float64 {
					c := 0
					for _, j := range n.jobs.List() {
						if j.State == s {
							c++
						}
					}
					return float64(c)
				}))
		}
	}
	return reg
}

// startMetrics serves /metrics on the config's metrics address.
func (n *Node) startMetrics() error {
	ln, err := net.Listen("tcp", n.cfg.Metrics)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.metricsRegistry(), promhttp.HandlerOpts{}))
	n.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics server stopped", "err", err)
		}
	}()
	n.stops = append(n.stops, func() error { return n.metrics.Close() })
	n.log.Info("serving metrics", "addr", ln.Addr().String())
	return writeAtomic(n.dir, MetricsAddrFile, []byte(ln.Addr().String()+"\n"))
}
