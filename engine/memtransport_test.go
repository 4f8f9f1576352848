package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memWait bounds how long a test waits for something that must happen.
const memWait = 10 * time.Second

func testPeer(name string, b byte) Peer {
	key := make(ed25519.PublicKey, ed25519.PublicKeySize)
	for i := range key {
		key[i] = b
	}
	return Peer{Name: name, Key: key}
}

// memPair returns a connected site end and aggregator end.
func memPair(t *testing.T) (site, agg Conn) {
	t.Helper()
	n := NewMemNetwork()
	l, err := n.Listen("agg", testPeer("aggregator", 0xaa))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), memWait)
	defer cancel()
	accepted := make(chan Conn, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	site, err = n.Dial(ctx, "agg", testPeer("site", 0x55))
	if err != nil {
		t.Fatal(err)
	}
	agg = <-accepted
	if agg == nil {
		t.FailNow()
	}
	t.Cleanup(func() { site.Close(); agg.Close() })
	return site, agg
}

// within runs f in a goroutine and returns its error, failing the test if
// f has not returned within memWait.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(memWait):
		t.Fatalf("%s: still blocked after %v", what, memWait)
		return nil
	}
}

func ctxTest(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), memWait)
	t.Cleanup(cancel)
	return ctx
}

func TestMemRoundTrip(t *testing.T) {
	site, agg := memPair(t)
	ctx := ctxTest(t)
	var sizes []int // encoded sizes
	for _, body := range []int{0, 1, MaxFrame - 1, MaxFrame, MaxFrame + 1, 3*MaxFrame + 5} {
		sizes = append(sizes, messageHeader+body)
	}
	sizes = append(sizes, MaxFrame-1, MaxFrame, MaxFrame+1, 3*MaxFrame+5)
	for i, size := range sizes {
		for _, dir := range []struct {
			name     string
			from, to Conn
		}{{"site→agg", site, agg}, {"agg→site", agg, site}} {
			want := testMessage(size, uint64(i)<<32|uint64(size))
			sent := make(chan error, 1)
			go func() { sent <- dir.from.Send(ctx, want) }()
			got, err := dir.to.Recv(ctx)
			if err != nil {
				t.Fatalf("%s size %d: %v", dir.name, size, err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("%s size %d: send: %v", dir.name, size, err)
			}
			if d := sameMessage(got, want); d != "" {
				t.Fatalf("%s size %d: %s", dir.name, size, d)
			}
		}
	}
}

// TestMemSendDoesNotRetain: the sender may reuse its body once Send
// returns.
func TestMemSendDoesNotRetain(t *testing.T) {
	site, agg := memPair(t)
	ctx := ctxTest(t)
	m := testMessage(2*MaxFrame+10, 1)
	want := *m
	want.Body = append([]byte(nil), m.Body...)
	if err := site.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Body {
		m.Body[i] = 0
	}
	got, err := agg.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameMessage(got, &want); d != "" {
		t.Fatal(d)
	}
}

func TestMemOrdering(t *testing.T) {
	site, agg := memPair(t)
	ctx := ctxTest(t)
	const n = 2000
	size := func(i int) int {
		if i%500 == 7 {
			return 2*MaxFrame + i
		}
		return messageHeader + i%300
	}
	go func() {
		for i := range n {
			if err := site.Send(ctx, testMessage(size(i), uint64(i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range n {
		got, err := agg.Recv(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if d := sameMessage(got, testMessage(size(i), uint64(i))); d != "" {
			t.Fatalf("message %d: %s", i, d)
		}
	}
}

// TestMemConcurrent sends and receives on both ends at once, with messages
// large enough to fill the queues, so that each sender blocks on the other
// end's reader.
func TestMemConcurrent(t *testing.T) {
	site, agg := memPair(t)
	ctx := ctxTest(t)
	n := 200
	if testing.Short() {
		n = 60
	}
	size := func(i int) int {
		if i%20 == 3 {
			return 3*MaxFrame + 5
		}
		return messageHeader + 1000 + i
	}
	var wg sync.WaitGroup
	for e, c := range []Conn{site, agg} {
		wg.Go(func() {
			for i := range n {
				if err := c.Send(ctx, testMessage(size(i), uint64(e)<<32|uint64(i))); err != nil {
					t.Errorf("end %d send %d: %v", e, i, err)
					return
				}
			}
		})
		wg.Go(func() {
			other := 1 - e
			for i := range n {
				got, err := c.Recv(ctx)
				if err != nil {
					t.Errorf("end %d recv %d: %v", e, i, err)
					return
				}
				if d := sameMessage(got, testMessage(size(i), uint64(other)<<32|uint64(i))); d != "" {
					t.Errorf("end %d recv %d: %s", e, i, d)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMemClose(t *testing.T) {
	ctx := ctxTest(t)
	m := testMessage(100, 1)
	t.Run("both ends refuse after close", func(t *testing.T) {
		site, agg := memPair(t)
		if err := site.Close(); err != nil {
			t.Fatal(err)
		}
		if err := site.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for name, f := range map[string]func() error{
			"closed end Send": func() error { return site.Send(ctx, m) },
			"closed end Recv": func() error { _, err := site.Recv(ctx); return err },
			"other end Send":  func() error { return agg.Send(ctx, m) },
			"other end Recv":  func() error { _, err := agg.Recv(ctx); return err },
		} {
			if err := within(t, name, f); !errors.Is(err, ErrClosed) {
				t.Errorf("%s: %v, want ErrClosed", name, err)
			}
		}
	})
	t.Run("queued messages delivered", func(t *testing.T) {
		site, agg := memPair(t)
		big := testMessage(2*MaxFrame, 2)
		for _, msg := range []*Message{m, big} {
			if err := site.Send(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		site.Close()
		for _, want := range []*Message{m, big} {
			got, err := agg.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := sameMessage(got, want); d != "" {
				t.Fatal(d)
			}
		}
		if _, err := agg.Recv(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv after the queue: %v, want ErrClosed", err)
		}
	})
	t.Run("closing end drops what it has not read", func(t *testing.T) {
		site, agg := memPair(t)
		if err := agg.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		site.Close()
		if _, err := site.Recv(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv on the closed end: %v, want ErrClosed", err)
		}
	})
	t.Run("close unblocks Recv", func(t *testing.T) {
		for _, closeSite := range []bool{true, false} {
			site, agg := memPair(t)
			err := within(t, "Recv", func() error {
				go func() {
					time.Sleep(10 * time.Millisecond)
					if closeSite {
						site.Close()
					} else {
						agg.Close()
					}
				}()
				_, err := agg.Recv(ctx)
				return err
			})
			if !errors.Is(err, ErrClosed) {
				t.Errorf("close site %v: Recv %v, want ErrClosed", closeSite, err)
			}
		}
	})
	t.Run("close unblocks Send", func(t *testing.T) {
		for _, closeSite := range []bool{true, false} {
			site, agg := memPair(t)
			fillQueue(t, site)
			err := within(t, "Send", func() error {
				go func() {
					time.Sleep(10 * time.Millisecond)
					if closeSite {
						site.Close()
					} else {
						agg.Close()
					}
				}()
				return site.Send(ctx, m)
			})
			if !errors.Is(err, ErrClosed) {
				t.Errorf("close site %v: Send %v, want ErrClosed", closeSite, err)
			}
		}
	})
	t.Run("close concurrent with traffic", func(t *testing.T) {
		site, agg := memPair(t)
		var wg sync.WaitGroup
		for _, c := range []Conn{site, agg} {
			wg.Go(func() {
				for {
					if err := c.Send(ctx, m); err != nil {
						return
					}
				}
			})
			wg.Go(func() {
				for {
					if _, err := c.Recv(ctx); err != nil {
						return
					}
				}
			})
			wg.Go(func() { time.Sleep(5 * time.Millisecond); c.Close() })
		}
		within(t, "traffic after Close", func() error { wg.Wait(); return nil })
	})
}

// fillQueue sends small messages from c until its queue is full.
func fillQueue(t *testing.T, c Conn) {
	t.Helper()
	for i := range memQueue {
		if err := c.Send(context.Background(), testMessage(40, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMemContext(t *testing.T) {
	t.Run("cancel unblocks Send", func(t *testing.T) {
		site, agg := memPair(t)
		fillQueue(t, site)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		err := within(t, "Send", func() error { return site.Send(ctx, testMessage(50, 1)) })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send: %v, want the deadline", err)
		}
		// Nothing of the message went out: the connection goes on.
		ctx = ctxTest(t)
		for i := range memQueue {
			got, err := agg.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := sameMessage(got, testMessage(40, uint64(i))); d != "" {
				t.Fatalf("message %d: %s", i, d)
			}
		}
		sendRecv(t, ctx, site, agg, testMessage(60, 2))
	})
	t.Run("cancel mid-message closes", func(t *testing.T) {
		site, agg := memPair(t)
		for i := range memQueue - 2 {
			if err := site.Send(context.Background(), testMessage(40, uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		big := testMessage(3*MaxFrame, 1) // two of its three frames fit
		err := within(t, "Send", func() error {
			go func() {
				// Cancel once the two frames are queued.
				for len(agg.(*memConn).in) < memQueue {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			return site.Send(ctx, big)
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send: %v, want canceled", err)
		}
		if err := site.Send(context.Background(), testMessage(40, 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after a partial message: %v, want ErrClosed", err)
		}
		rctx := ctxTest(t)
		for i := range memQueue - 2 {
			if _, err := agg.Recv(rctx); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if _, err := agg.Recv(rctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv of the partial message: %v, want ErrClosed", err)
		}
	})
	t.Run("cancel unblocks Recv", func(t *testing.T) {
		site, agg := memPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		err := within(t, "Recv", func() error {
			go func() { time.Sleep(10 * time.Millisecond); cancel() }()
			_, err := agg.Recv(ctx)
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv: %v, want canceled", err)
		}
		want := testMessage(500, 3)
		if err := site.Send(ctxTest(t), want); err != nil {
			t.Fatal(err)
		}
		got, err := agg.Recv(ctxTest(t))
		if err != nil {
			t.Fatal(err)
		}
		if d := sameMessage(got, want); d != "" {
			t.Fatal(d)
		}
	})
	t.Run("done context", func(t *testing.T) {
		site, _ := memPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := site.Send(ctx, testMessage(40, 1)); !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v", err)
		}
		if _, err := site.Recv(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Recv: %v", err)
		}
	})
}

func TestMemDialNobody(t *testing.T) {
	var n MemNetwork // the zero value is an empty network
	_, err := n.Dial(ctxTest(t), "nowhere:1", testPeer("site", 1))
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), `"nowhere:1"`) {
		t.Fatalf("Dial: %v, want ErrClosed naming the address", err)
	}
}

func TestMemListen(t *testing.T) {
	n := NewMemNetwork()
	l, err := n.Listen("agg", testPeer("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr() != "agg" {
		t.Errorf("Addr %q", l.Addr())
	}
	if _, err := n.Listen("agg", testPeer("b", 2)); !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), `"agg"`) {
		t.Fatalf("second Listen: %v, want ErrAddrInUse naming the address", err)
	}
	if _, err := n.Listen("", testPeer("b", 2)); err == nil {
		t.Fatal("Listen on an empty address succeeded")
	}
	l2, err := n.Listen("other", testPeer("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	l.Close()
	l3, err := n.Listen("agg", testPeer("c", 3))
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	l.Close() // a second Close must not remove the new listener
	defer l3.Close()
	ctx := ctxTest(t)
	go func() {
		if c, err := l3.Accept(ctx); err == nil {
			c.Close()
		}
	}()
	c, err := n.Dial(ctx, "agg", testPeer("site", 9))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Peer().Name != "c" {
		t.Fatalf("dialled %q, want the new listener c", c.Peer().Name)
	}
}

func TestMemListenerClose(t *testing.T) {
	n := NewMemNetwork()
	l, err := n.Listen("agg", testPeer("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTest(t)

	// An established connection outlives its listener.
	accepted := make(chan Conn, 1)
	go func() {
		c, _ := l.Accept(ctx)
		accepted <- c
	}()
	site, err := n.Dial(ctx, "agg", testPeer("s", 2))
	if err != nil {
		t.Fatal(err)
	}
	agg := <-accepted
	defer site.Close()
	defer agg.Close()

	// A Dial waiting for Accept and an Accept waiting for a Dial both end
	// when the listener closes.
	l2, err := n.Listen("agg2", testPeer("b", 3))
	if err != nil {
		t.Fatal(err)
	}
	dialErr := make(chan error, 1)
	go func() {
		_, err := n.Dial(ctx, "agg2", testPeer("s", 4))
		dialErr <- err
	}()
	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept(ctx)
		acceptErr <- err
	}()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	l2.Close()
	if err := within(t, "Accept", func() error { return <-acceptErr }); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept blocked at Close: %v, want ErrClosed", err)
	}
	if err := within(t, "Dial", func() error { return <-dialErr }); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), `"agg2"`) {
		t.Errorf("Dial blocked at Close: %v, want ErrClosed naming agg2", err)
	}
	if _, err := l.Accept(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n.Dial(ctx, "agg", testPeer("s", 5)); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}

	sendRecv(t, ctx, site, agg, testMessage(200, 1))
}

func TestMemAcceptDialContext(t *testing.T) {
	n := NewMemNetwork()
	l, err := n.Listen("agg", testPeer("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := within(t, "Accept", func() error { _, err := l.Accept(ctx); return err }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept: %v, want the deadline", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := within(t, "Dial", func() error { _, err := n.Dial(ctx, "agg", testPeer("s", 2)); return err }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial with nobody accepting: %v, want the deadline", err)
	}
}

func TestMemPeers(t *testing.T) {
	n := NewMemNetwork()
	aggPeer, sitePeer := testPeer("aggregator", 0xaa), testPeer("site-7", 0x77)
	l, err := n.Listen("agg", aggPeer)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := ctxTest(t)
	accepted := make(chan Conn, 1)
	go func() {
		c, _ := l.Accept(ctx)
		accepted <- c
	}()
	site, err := n.Dial(ctx, "agg", sitePeer)
	if err != nil {
		t.Fatal(err)
	}
	agg := <-accepted
	defer site.Close()
	defer agg.Close()
	// The caller's later changes to its Peer do not reach the connection.
	aggPeer.Key[0], sitePeer.Key[0] = 0, 0
	if p := site.Peer(); p.Name != "aggregator" || !p.Key.Equal(testPeer("", 0xaa).Key) {
		t.Errorf("site sees %q %x", p.Name, p.Key)
	}
	if p := agg.Peer(); p.Name != "site-7" || !p.Key.Equal(testPeer("", 0x77).Key) {
		t.Errorf("aggregator sees %q %x", p.Name, p.Key)
	}
}

// BenchmarkMemRound: sites each send one 400 KB message to one aggregator
// end, which receives them all.
func BenchmarkMemRound(b *testing.B) {
	const sites = 100
	n := NewMemNetwork()
	l, err := n.Listen("agg", testPeer("a", 1))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	var siteConns, aggConns []Conn
	for i := range sites {
		accepted := make(chan Conn, 1)
		go func() {
			c, err := l.Accept(ctx)
			if err != nil {
				b.Error(err)
			}
			accepted <- c
		}()
		c, err := n.Dial(ctx, "agg", testPeer("s", byte(i)))
		if err != nil {
			b.Fatal(err)
		}
		siteConns = append(siteConns, c)
		aggConns = append(aggConns, <-accepted)
	}
	m := testMessage(400<<10, 1)
	b.SetBytes(sites * 400 << 10)
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range sites {
			wg.Go(func() {
				if err := siteConns[i].Send(ctx, m); err != nil {
					b.Error(err)
				}
			})
			wg.Go(func() {
				if _, err := aggConns[i].Recv(ctx); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

// sendRecv sends m on from and checks that to receives it whole.
func sendRecv(t *testing.T, ctx context.Context, from, to Conn, m *Message) {
	t.Helper()
	if err := from.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := to.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameMessage(got, m); d != "" {
		t.Fatal(d)
	}
}
