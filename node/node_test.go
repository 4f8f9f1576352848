package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/node/nodepb"
)

// startAggregator makes and starts an aggregator node that lists site as
// its peer and researcher as its researcher.
func startAggregator(t *testing.T, site, researcher ed25519.PrivateKey) (*Node, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agg")
	if _, err := Init(dir, "aggregator", time.Now(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("name = \"aggregator\"\nlisten = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\npeers = [%q]\nresearchers = [%q]\n",
		didOf(site), didOf(researcher))
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	return n, dir
}

// TestNodeServices: an aggregator node serves the health service and
// reflection to pinned peers, its metrics over HTTP, refuses a stranger at
// the handshake, and authorises each service by role.
func TestNodeServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	site, researcher, stranger := seededKey(1), seededKey(2), seededKey(3)
	n, dir := startAggregator(t, site, researcher)
	if b, err := os.ReadFile(filepath.Join(dir, AddrFile)); err != nil || strings.TrimSpace(string(b)) != n.Addr() {
		t.Fatalf("%s holds %q (%v), the node listens on %s", AddrFile, b, err, n.Addr())
	}
	dial := func(k ed25519.PrivateKey) healthpb.HealthClient {
		cc, err := Dial(n.Addr(), n.DID(), k, "client", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return healthpb.NewHealthClient(cc)
	}
	for _, svc := range []string{"", "cohort.node.v1.Tasks", "cohort.node.v1.Jobs"} {
		resp, err := dial(researcher).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v %v", svc, resp, err)
		}
	}
	if _, err := dial(stranger).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("a stranger's health check: %v, want Unavailable (refused at the handshake)", err)
	}

	// Reflection lists the services, as grpcurl would ask.
	cc, err := Dial(n.Addr(), n.DID(), site, "site", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sctx, endStreams := context.WithCancel(ctx)
	rs, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	for _, want := range []string{"cohort.node.v1.Jobs", "cohort.node.v1.Tasks", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}

	// Roles: a site may not use Jobs, a researcher may not open a task
	// stream.
	if _, err := nodepb.NewJobsClient(cc).List(ctx, &nodepb.ListRequest{}); status.Code(err) != codes.PermissionDenied ||
		!strings.Contains(err.Error(), didOf(site)) {
		t.Errorf("a site listing jobs: %v, want PermissionDenied naming it", err)
	}
	rc, err := Dial(n.Addr(), n.DID(), researcher, "researcher", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ts, err := nodepb.NewTasksClient(rc).Connect(sctx)
	if err == nil {
		_, err = ts.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a researcher opening a task stream: %v, want PermissionDenied", err)
	}
	if _, err := nodepb.NewJobsClient(rc).List(ctx, &nodepb.ListRequest{}); err != nil {
		t.Errorf("the researcher listing jobs: %v", err)
	}

	// Metrics.
	addr, err := os.ReadFile(filepath.Join(dir, MetricsAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.Get("http://" + strings.TrimSpace(string(addr)) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	seen := map[string]string{}
	sc := bufio.NewScanner(hr.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "cohort_") {
			seen[f[0]] = f[1]
		}
	}
	for name, want := range map[string]string{
		"cohort_participants_connected":         "0",
		"cohort_transport_refused_frames_total": "0",
		`cohort_jobs{state="running"}`:          "0",
	} {
		if seen[name] != want {
			t.Errorf("metric %s = %q, want %q (all: %v)", name, seen[name], want, seen)
		}
	}
	if _, ok := seen["cohort_ledger_entries"]; !ok {
		t.Errorf("no cohort_ledger_entries metric")
	}

	// Shutdown removes the address file and closes the port.
	endStreams()
	start := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if _, err := os.Stat(filepath.Join(dir, AddrFile)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", AddrFile, err)
	}
	if _, err := dial(researcher).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("the stopped node answers")
	}
}

// TestNodeStartErrors: a folder that is not a node, a config that does not
// parse and a port in use each fail Start with a message naming the
// problem, and leave nothing running.
func TestNodeStartErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Start(ctx, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("empty folder: %v", err)
	}
	n, _ := startAggregator(t, seededKey(1), seededKey(2))
	dir := filepath.Join(t.TempDir(), "second")
	if _, err := Init(dir, "second", time.Now(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("name = \"second\"\nlisten = %q\n", n.Addr())
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, dir, Options{}); err == nil || !strings.Contains(err.Error(), "listen on "+n.Addr()) {
		t.Errorf("port in use: %v", err)
	}
	// Its ledger was closed: the folder can be started again once the
	// port is free.
	cfg = "name = \"second\"\nlisten = \"127.0.0.1:0\"\n"
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Start(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("restart after a failed start: %v", err)
	}
	m.Shutdown(ctx)
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("name = \"x\"\nlisten = 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, dir, Options{}); err == nil {
		t.Error("a bad config started")
	}
}
