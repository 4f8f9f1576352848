package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/node/nodepb"
)

// ResultChunkSize bounds the data of one ResultChunk message.
const ResultChunkSize = 512 << 10

// RegisterJobs serves j as the Jobs gRPC service of s. The caller of each
// method is the researcher authenticated by mutual TLS; the node's
// authorizer has already checked that it is one of its researchers.
func RegisterJobs(s *grpc.Server, j *Jobs) {
	nodepb.RegisterJobsServer(s, &jobsServer{j: j})
}

// jobsServer is the gRPC face of Jobs: it validates requests, calls Jobs
// and maps its errors to status codes.
type jobsServer struct {
	nodepb.UnimplementedJobsServer
	j *Jobs
}

// jobsStatus maps the jobs service's errors to gRPC status codes.
func jobsStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotSubmitter):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, ErrJobExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, ErrJobEnded), errors.Is(err, ErrNotFinished):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrJobsClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return errStatus(err)
}

func (s *jobsServer) Submit(ctx context.Context, req *nodepb.SubmitRequest) (*nodepb.JobInfo, error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.j.Submit(ctx, c, req.GetJobFile(), req.GetSignature())
	if err != nil {
		return nil, jobsStatus(err)
	}
	return jobInfoPB(info), nil
}

// List returns the caller's own jobs: a researcher does not see what
// others submitted.
func (s *jobsServer) List(ctx context.Context, _ *nodepb.ListRequest) (*nodepb.ListResponse, error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	resp := &nodepb.ListResponse{}
	for _, in := range s.j.List() {
		if in.Researcher == c.DID {
			resp.Jobs = append(resp.Jobs, jobInfoPB(in))
		}
	}
	return resp, nil
}

// own parses a job ID and checks that the caller submitted that job: only
// its researcher may watch it or fetch its result.
func (s *jobsServer) own(ctx context.Context, raw string) (engine.JobID, error) {
	id, err := ParseJobID(raw)
	if err != nil {
		return id, jobsStatus(err)
	}
	c, err := CallerFrom(ctx)
	if err != nil {
		return id, err
	}
	info, err := s.j.Get(id)
	if err != nil {
		return id, jobsStatus(err)
	}
	if info.Researcher != c.DID {
		return id, jobsStatus(fmt.Errorf("%w: job %v was submitted by %s", ErrNotSubmitter, id, info.Researcher))
	}
	return id, nil
}

func (s *jobsServer) Watch(req *nodepb.WatchRequest, stream grpc.ServerStreamingServer[nodepb.JobEvent]) error {
	id, err := s.own(stream.Context(), req.GetId())
	if err != nil {
		return err
	}
	return jobsStatus(s.j.Watch(stream.Context(), id, func(e Event) error {
		return stream.Send(jobEventPB(e))
	}))
}

func (s *jobsServer) Result(req *nodepb.ResultRequest, stream grpc.ServerStreamingServer[nodepb.ResultChunk]) error {
	id, err := s.own(stream.Context(), req.GetId())
	if err != nil {
		return err
	}
	paths, err := s.j.ResultFiles(id)
	if err != nil {
		return jobsStatus(err)
	}
	dir := s.j.jobDir(id)
	buf := make([]byte, ResultChunkSize)
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return jobsStatus(err)
		}
		if err := sendFile(stream, filepath.ToSlash(rel), p, buf); err != nil {
			return jobsStatus(err)
		}
	}
	return nil
}

// sendFile streams the file at path as name, in chunks of at most
// len(buf) bytes: the name on the first, eof on the last.
func sendFile(stream grpc.ServerStreamingServer[nodepb.ResultChunk], name, path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("node: result file %s: %w", name, err)
	}
	defer f.Close()
	first := true
	for {
		n, err := io.ReadFull(f, buf)
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return fmt.Errorf("node: result file %s: %w", name, err)
		}
		if n == 0 && !first && eof {
			// The file ended exactly at the last chunk: mark it with an
			// empty one.
			return stream.Send(&nodepb.ResultChunk{Eof: true})
		}
		c := &nodepb.ResultChunk{Data: buf[:n], Eof: eof}
		if first {
			c.Name = name
		}
		if err := stream.Send(c); err != nil {
			return err
		}
		if eof {
			return nil
		}
		first = false
	}
}

func (s *jobsServer) Cancel(ctx context.Context, req *nodepb.CancelRequest) (*nodepb.JobInfo, error) {
	c, err := CallerFrom(ctx)
	if err != nil {
		return nil, err
	}
	id, err := ParseJobID(req.GetId())
	if err != nil {
		return nil, jobsStatus(err)
	}
	info, err := s.j.Cancel(ctx, c, id)
	if err != nil {
		return nil, jobsStatus(err)
	}
	return jobInfoPB(info), nil
}

// jobInfoPB converts a job's info for the wire.
func jobInfoPB(in JobInfo) *nodepb.JobInfo {
	out := &nodepb.JobInfo{Id: in.ID.String(), Name: in.Name, State: in.State, Researcher: in.Researcher,
		Rounds: int32(in.Rounds), Round: int32(in.Round), Error: in.Error, Mode: in.Mode, Sites: in.Sites}
	if !in.Submitted.IsZero() {
		out.Submitted = in.Submitted.UnixNano()
	}
	if !in.Finished.IsZero() {
		out.Finished = in.Finished.UnixNano()
	}
	return out
}

// jobEventPB converts an event for the wire.
func jobEventPB(e Event) *nodepb.JobEvent {
	out := &nodepb.JobEvent{Job: jobInfoPB(e.Job), Phase: e.Phase, Round: int32(e.Round), Rounds: int32(e.Rounds),
		Done: int32(e.Done), Of: int32(e.Of), Error: e.Err}
	if m := e.Metrics; m != nil {
		out.Metrics = &nodepb.RoundMetrics{Round: int32(m.Round), Attempt: int32(m.Attempt), Contributors: m.Contributors,
			TrainLoss: m.TrainLoss, TestLoss: m.TestLoss, Accuracy: m.Accuracy, Auc: m.AUC, Epsilon: m.Epsilon,
			DurationNs: int64(m.Duration), ModelHash: m.ModelHash[:]}
	}
	return out
}
