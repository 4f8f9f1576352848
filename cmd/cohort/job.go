package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/node"
	"github.com/cohort-mpc/cohort/node/nodepb"
)

// defaultJobTimeout bounds a job command that is not watching a job.
const defaultJobTimeout = time.Minute

func jobCommand() *cli.Command {
	flags := func(extra ...cli.Flag) []cli.Flag {
		return append([]cli.Flag{
			&cli.StringFlag{Name: "node", Usage: "the aggregator's ADDR, host:port", EnvVars: []string{"COHORT_NODE"}},
			&cli.StringFlag{Name: "node-did", Usage: "the aggregator's did:key", EnvVars: []string{"COHORT_NODE_DID"}},
			&cli.StringFlag{Name: "key", Usage: "your key FILE (cohort key generate)", EnvVars: []string{"COHORT_KEY"}},
			&cli.StringFlag{Name: "name", Value: "researcher", Usage: "your name in the TLS certificate", EnvVars: []string{"COHORT_NAME"}},
			&cli.DurationFlag{Name: "timeout", Usage: "give up after this long (default 1m; watching: no limit)"},
		}, extra...)
	}
	return &cli.Command{
		Name:  "job",
		Usage: "submit jobs to an aggregator, follow them and fetch their results",
		Description: "A researcher's commands. Each connects to the aggregator at --node over mutual TLS,\n" +
			"pinning it by --node-did and authenticating with --key, whose did:key must be among the\n" +
			"researchers of the aggregator's node.toml. COHORT_NODE, COHORT_NODE_DID and COHORT_KEY\n" +
			"set them once for all.",
		Subcommands: []*cli.Command{
			{
				Name:      "submit",
				Usage:     "sign a job file and submit it",
				ArgsUsage: "JOB.toml",
				Description: "Signs the job file with --key and submits it; the aggregator checks it, fixes its\n" +
					"proposal to the sites connected now and queues it. Prints the job's ID; --watch then\n" +
					"follows it as cohort job watch does.",
				Flags: flags(&cli.BoolFlag{Name: "watch", Usage: "follow the job until it ends"}),
				Action: func(c *cli.Context) error {
					const cmd = "job submit"
					if c.NArg() != 1 {
						return usageError{fmt.Sprintf("%s: want one job file, got %d arguments", cmd, c.NArg())}
					}
					jobFile, err := os.ReadFile(c.Args().First())
					if err != nil {
						return fmt.Errorf("%s: %w", cmd, err)
					}
					s, err := openJobSession(c, cmd)
					if err != nil {
						return err
					}
					defer s.close()
					ctx, cancel := s.context(c, defaultJobTimeout)
					defer cancel()
					info, err := s.submit(ctx, jobFile)
					if err != nil {
						return err
					}
					w := c.App.Writer
					s.writeSubmitted(w, info)
					if !c.Bool("watch") {
						fmt.Fprintf(w, "follow it with: cohort job watch %s\n", info.Id)
						return nil
					}
					ctx, cancel = s.context(c, 0)
					defer cancel()
					return s.watch(ctx, w, info.Id)
				},
			},
			{
				Name:      "list",
				Usage:     "list the aggregator's jobs, newest first",
				ArgsUsage: " ",
				Flags:     flags(),
				Action: func(c *cli.Context) error {
					const cmd = "job list"
					if c.NArg() != 0 {
						return usageError{fmt.Sprintf("%s: takes no arguments, got %q", cmd, c.Args().First())}
					}
					s, err := openJobSession(c, cmd)
					if err != nil {
						return err
					}
					defer s.close()
					ctx, cancel := s.context(c, defaultJobTimeout)
					defer cancel()
					resp, err := s.client.List(ctx, &nodepb.ListRequest{})
					if err != nil {
						return s.fail(err)
					}
					return writeJobList(c.App.Writer, resp.Jobs, identity.DID(s.key.Public().(ed25519.PublicKey)))
				},
			},
			{
				Name:      "watch",
				Usage:     "follow a job until it ends",
				ArgsUsage: "ID",
				Description: "Replays the job's progress so far, then follows it: a progress bar per round on a\n" +
					"terminal, one line per committed round (train loss, test loss, accuracy, AUC, ε), and\n" +
					"the final state. The exit code is 1 if the job failed or was cancelled.",
				Flags: flags(),
				Action: jobAction("job watch", 0, nil, func(c *cli.Context, ctx context.Context, s *jobSession, id string) error {
					return s.watch(ctx, c.App.Writer, id)
				}),
			},
			{
				Name:      "result",
				Usage:     "fetch a finished job's files: model, metrics, plot and ledger receipts",
				ArgsUsage: "ID",
				Description: "Writes the job's result files under --out: README.txt, model.json, metrics.csv,\n" +
					"training.png and receipts/, the aggregator's cosigned ledger checkpoint and one proof\n" +
					"per ledger entry of the job (check them with cohort ledger verify --proof). It never\n" +
					"overwrites a file.",
				Flags: flags(&cli.StringFlag{Name: "out", Usage: "the DIR to write the files to (required)"}),
				Action: jobAction("job result", defaultJobTimeout, func(c *cli.Context) error {
					if c.String("out") == "" {
						return usageError{"job result: --out DIR is required: where to write the files"}
					}
					return nil
				}, func(c *cli.Context, ctx context.Context, s *jobSession, id string) error {
					wrote, err := s.result(ctx, id, c.String("out"))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "wrote the %d files of job %s\n", len(wrote), id)
					writeAligned(c.App.Writer, "  ", wrote)
					return nil
				}),
			},
			{
				Name:      "cancel",
				Usage:     "stop a queued or running job you submitted",
				ArgsUsage: "ID",
				Flags:     flags(),
				Action: jobAction("job cancel", defaultJobTimeout, nil, func(c *cli.Context, ctx context.Context, s *jobSession, id string) error {
					info, err := s.client.Cancel(ctx, &nodepb.CancelRequest{Id: id})
					if err != nil {
						return s.fail(err)
					}
					fmt.Fprintf(c.App.Writer, "job %s %s at round %d of %d (%s)\n", info.Id, info.State, info.Round, info.Rounds, info.Error)
					return nil
				}),
			},
		},
	}
}

// jobIDArg returns the command's one argument, a job ID.
// jobAction is the action of a job command that takes one job ID: it
// checks the ID and, with check (if not nil), the other flags, opens a
// session with the node, and calls run with a context bounded by
// --timeout (def when it is not set; 0: none).
func jobAction(cmd string, def time.Duration, check func(*cli.Context) error,
	run func(c *cli.Context, ctx context.Context, s *jobSession, id string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		id, err := jobIDArg(c, cmd)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(c); err != nil {
				return err
			}
		}
		s, err := openJobSession(c, cmd)
		if err != nil {
			return err
		}
		defer s.close()
		ctx, cancel := s.context(c, def)
		defer cancel()
		return run(c, ctx, s, id)
	}
}

func jobIDArg(c *cli.Context, cmd string) (string, error) {
	if c.NArg() != 1 {
		return "", usageError{fmt.Sprintf("%s: want one job ID, got %d arguments", cmd, c.NArg())}
	}
	id := c.Args().First()
	if _, err := node.ParseJobID(id); err != nil {
		return "", usageError{fmt.Sprintf("%s: %q is not a job ID: want 32 lowercase hex digits", cmd, id)}
	}
	return id, nil
}

// jobSession is a job command's connection to an aggregator.
type jobSession struct {
	cmd    string
	addr   string
	key    ed25519.PrivateKey
	conn   *grpc.ClientConn
	client nodepb.JobsClient
}

func openJobSession(c *cli.Context, cmd string) (*jobSession, error) {
	for _, f := range []struct{ flag, env, what string }{
		{"node", "COHORT_NODE", "the aggregator's address"},
		{"node-did", "COHORT_NODE_DID", "the aggregator's did:key"},
		{"key", "COHORT_KEY", "your key file"},
	} {
		if c.String(f.flag) == "" {
			return nil, usageError{fmt.Sprintf("%s: --%s (or %s) is required: %s", cmd, f.flag, f.env, f.what)}
		}
	}
	key, err := identity.LoadKey(c.String("key"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return dialJobSession(cmd, c.String("node"), c.String("node-did"), key, c.String("name"))
}

// dialJobSession connects to the aggregator at addr over mutual TLS,
// pinning it by its did:key did and authenticating with key, with name in
// the certificate. The session's errors begin with cmd.
func dialJobSession(cmd, addr, did string, key ed25519.PrivateKey, name string) (*jobSession, error) {
	conn, err := node.Dial(addr, did, key, name, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: node %s: %w", cmd, addr, err)
	}
	return &jobSession{cmd: cmd, addr: addr, key: key, conn: conn, client: nodepb.NewJobsClient(conn)}, nil
}

func (s *jobSession) close() { _ = s.conn.Close() }

// context bounds a call by --timeout, else by def (0: no bound).
func (s *jobSession) context(c *cli.Context, def time.Duration) (context.Context, context.CancelFunc) {
	d := def
	if c.IsSet("timeout") {
		d = c.Duration("timeout")
	}
	if d <= 0 {
		return context.WithCancel(c.Context)
	}
	return context.WithTimeout(c.Context, d)
}

// fail reports an error of a call to the node: the node's reason, as it
// gave it.
func (s *jobSession) fail(err error) error {
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: node %s: %s", s.cmd, s.addr, st.Message())
	}
	return fmt.Errorf("%s: node %s: %w", s.cmd, s.addr, err)
}

// submit signs a job file with the session's key and submits it.
func (s *jobSession) submit(ctx context.Context, jobFile []byte) (*nodepb.JobInfo, error) {
	info, err := s.client.Submit(ctx, &nodepb.SubmitRequest{JobFile: jobFile, Signature: engine.SignJob(s.key, jobFile)})
	if err != nil {
		return nil, s.fail(err)
	}
	return info, nil
}

// writeSubmitted writes the line that tells what the aggregator made of a
// submitted job.
func (s *jobSession) writeSubmitted(w io.Writer, info *nodepb.JobInfo) {
	fmt.Fprintf(w, "submitted job %s (%s): %s on %s, %d rounds, %s, sites %s\n", info.Id, info.Name, info.State, s.addr,
		info.Rounds, info.Mode, strings.Join(info.Sites, ", "))
}

// watch follows a job to its end as follow does, then says how to fetch
// its result.
func (s *jobSession) watch(ctx context.Context, w io.Writer, id string) error {
	if err := s.follow(ctx, w, id); err != nil {
		return err
	}
	fmt.Fprintf(w, "fetch the result with: cohort job result %s --out DIR\n", id)
	return nil
}

// follow shows a job's progress until it ends and reports how it ended: a
// line for a job that finished, an error for one that failed or was
// cancelled.
func (s *jobSession) follow(ctx context.Context, w io.Writer, id string) error {
	stream, err := s.client.Watch(ctx, &nodepb.WatchRequest{Id: id})
	if err != nil {
		return s.fail(err)
	}
	pl := newProgressLine(w)
	var last *nodepb.JobEvent
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			pl.clear()
			return s.fail(err)
		}
		last = ev
		showJobEvent(pl, ev)
	}
	pl.clear()
	if last == nil {
		return fmt.Errorf("%s: node %s: no events for job %s", s.cmd, s.addr, id)
	}
	info := last.GetJob()
	switch last.Phase {
	case node.StateFinished:
		line := fmt.Sprintf("job %s finished: %d rounds", id, info.GetRounds())
		if m := last.GetMetrics(); m != nil && !math.IsNaN(m.Accuracy) {
			line += fmt.Sprintf("; final model: accuracy %.3f, AUC %.3f, test loss %.4f", m.Accuracy, m.Auc, m.TestLoss)
		}
		fmt.Fprintln(w, line)
		return nil
	case node.StateFailed:
		return fmt.Errorf("%s: job %s failed: %s", s.cmd, id, info.GetError())
	case node.StateCancelled:
		return fmt.Errorf("%s: job %s was %s", s.cmd, id, info.GetError())
	}
	return fmt.Errorf("%s: node %s: the watch ended while job %s was %s", s.cmd, s.addr, id, info.GetState())
}

// showJobEvent shows one event of a watched job.
func showJobEvent(pl *progressLine, ev *nodepb.JobEvent) {
	p := engine.Progress{Round: int(ev.Round), Rounds: int(ev.Rounds), Phase: ev.Phase, Done: int(ev.Done), Of: int(ev.Of)}
	switch ev.Phase {
	case node.StateQueued, node.StateRunning:
		line := fmt.Sprintf("job %s %s", ev.GetJob().GetId(), ev.Phase)
		if ev.Phase == node.StateRunning && ev.Round > 0 {
			line += fmt.Sprintf(" from round %d", ev.Round+1)
		}
		pl.keep(line)
	case node.StateFinished, node.StateFailed, node.StateCancelled:
	case "committed":
		if ev.Metrics != nil {
			pl.keep(roundLine(ev.Metrics, int(ev.Rounds)))
		}
	case "retry":
		p.Err = errors.New(ev.Error)
		pl.update(p)
	default:
		pl.update(p)
	}
}

// roundLine is the line of a committed round.
func roundLine(m *nodepb.RoundMetrics, rounds int) string {
	digits := len(strconv.Itoa(rounds))
	line := fmt.Sprintf("round %*d/%d %s train loss %.4f", digits, m.Round, rounds, bar(int(m.Round), rounds), m.TrainLoss)
	if !math.IsNaN(m.Accuracy) {
		line += fmt.Sprintf("  test loss %.4f accuracy %.3f AUC %.3f", m.TestLoss, m.Accuracy, m.Auc)
	}
	if !math.IsNaN(m.Epsilon) {
		line += fmt.Sprintf("  ε %.2f", m.Epsilon)
	}
	return line + "  " + roundDuration(time.Duration(m.DurationNs)).String()
}

// writeJobList writes the jobs as a table; me is the caller's did:key.
func writeJobList(w io.Writer, jobs []*nodepb.JobInfo, me string) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tROUND\tSUBMITTED\tBY\tERROR")
	for _, j := range jobs {
		by := j.Researcher
		if by == me {
			by = "you"
		}
		submitted := time.Unix(0, j.Submitted).Local().Format("2006-01-02 15:04:05")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.Id, j.Name, j.State, j.Round, j.Rounds, submitted, by, oneLine(j.Error))
	}
	return tw.Flush()
}

// oneLine joins the lines of s.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// result fetches a job's files into dir and returns, for each file in the
// order received, its path and its size in words.
func (s *jobSession) result(ctx context.Context, id, dir string) ([][2]string, error) {
	stream, err := s.client.Result(ctx, &nodepb.ResultRequest{Id: id})
	if err != nil {
		return nil, s.fail(err)
	}
	var (
		f     *os.File
		cur   string
		size  int64
		wrote [][2]string
	)
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.fail(err)
		}
		if c.Name != "" {
			if f != nil {
				return nil, fmt.Errorf("%s: node %s: file %s ended without its last chunk", s.cmd, s.addr, cur)
			}
			p, err := resultPath(dir, c.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: node %s: %w", s.cmd, s.addr, err)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, fmt.Errorf("%s: %w", s.cmd, err)
			}
			if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
				return nil, fmt.Errorf("%s: %w", s.cmd, err)
			}
			cur, size = p, 0
		} else if f == nil {
			return nil, fmt.Errorf("%s: node %s: a chunk of data outside any file", s.cmd, s.addr)
		}
		n, err := f.Write(c.Data)
		size += int64(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.cmd, err)
		}
		if c.Eof {
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("%s: %w", s.cmd, err)
			}
			f = nil
			wrote = append(wrote, [2]string{cur, fmt.Sprintf("%d bytes", size)})
		}
	}
	if f != nil {
		return nil, fmt.Errorf("%s: node %s: file %s ended without its last chunk", s.cmd, s.addr, cur)
	}
	return wrote, nil
}

// resultPath is where the result file the node calls name goes under dir.
// The name must be a relative slash-separated path of plain names: no
// "..", no absolute path, nothing hidden, no odd characters.
func resultPath(dir, name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("result file name %.80q: %s", name, why)
	}
	if name == "" || len(name) > 255 {
		return bad("want 1 to 255 bytes")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)) {
			return bad("want only letters, digits, '.', '_', '-' and '/'")
		}
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part[0] == '.' {
			return bad("want a relative path of names that do not start with '.'")
		}
	}
	if path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) {
		return bad("not a clean local path")
	}
	return filepath.Join(dir, filepath.FromSlash(name)), nil
}
