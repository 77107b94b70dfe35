// relu_go_server: activation.v1.ActivationService in grpc-go, a peer for
// bench/compare.sh. Relu and ReluStream compute ReLU in MODE_DOCUMENTED on
// FLOAT32 tensors (raw_data or float_data), in place in the request's
// bytes, which then become the response's: the same work as
// activation_server for the benchmark payloads. Other dtypes and
// MODE_KERAS get UNIMPLEMENTED; GetServerInfo is UNIMPLEMENTED. Tensors of
// at least -parallel_elements are split over GOMAXPROCS goroutines.
// Not a server to deploy. Built by bench/peers/build_go.sh.
//
//	relu_go_server -address=127.0.0.1:0 -port_file=/tmp/port
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	pb "activation.v1/activationpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

var (
	address  = flag.String("address", "127.0.0.1:0", "host:port to listen on")
	portFile = flag.String("port_file", "", "write the bound port and a newline here once serving")
	parallel = flag.Int("parallel_elements", 1<<18, "tensors of this many elements or more are split over GOMAXPROCS goroutines")
)

const maxMessage = 1<<30 + 1<<20 // 1 GiB of tensor and its framing

// codec is grpc-go's "proto" codec on protobuf-go's API v2. Debian's grpc-go
// (1.33) marshals with github.com/golang/protobuf 1.3, which cannot handle
// messages that protoc-gen-go 1.28 generates.
type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error) {
	return proto.Marshal(v.(proto.Message))
}

func (codec) Unmarshal(data []byte, v interface{}) error {
	return proto.Unmarshal(data, v.(proto.Message))
}

func (codec) Name() string { return "proto" }

type server struct {
	pb.UnimplementedActivationServiceServer
}

// op is ReLU's parameters in float32, as MODE_DOCUMENTED converts them.
type op struct {
	hasMax                bool
	max, slope, threshold float32
}

func newOp(p *pb.ReluParams) (op, error) {
	if p.GetMode() == pb.Mode_MODE_KERAS {
		return op{}, status.Error(codes.Unimplemented, "the Go peer computes MODE_DOCUMENTED only")
	}
	o := op{slope: float32(p.GetNegativeSlope()), threshold: float32(p.GetThreshold())}
	if p != nil && p.MaxValue != nil {
		o.hasMax, o.max = true, float32(*p.MaxValue)
	}
	if o.slope < 0 || o.hasMax && o.max < 0 ||
		math.IsNaN(float64(o.slope)) || math.IsInf(float64(o.threshold), 0) {
		return op{}, status.Error(codes.InvalidArgument, "bad params")
	}
	return o, nil
}

// apply computes f(x) of docs/semantics.md, MODE_DOCUMENTED, in place.
func (o op) apply(v []float32) {
	if !o.hasMax && o.slope == 0 && o.threshold == 0 {
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
		return
	}
	for i, x := range v {
		switch {
		case x != x: // NaN stays
		case o.hasMax && x >= o.max:
			v[i] = o.max
		case x >= o.threshold:
		case o.slope == 0:
			v[i] = 0
		default:
			v[i] = o.slope * (x - o.threshold)
		}
	}
}

// run applies o to v, split over GOMAXPROCS goroutines when v is large.
func (o op) run(v []float32) {
	workers := runtime.GOMAXPROCS(0)
	if len(v) < *parallel || workers < 2 {
		o.apply(v)
		return
	}
	var wg sync.WaitGroup
	chunk := (len(v) + workers - 1) / workers
	for start := 0; start < len(v); start += chunk {
		end := start + chunk
		if end > len(v) {
			end = len(v)
		}
		wg.Add(1)
		go func(part []float32) {
			defer wg.Done()
			o.apply(part)
		}(v[start:end])
	}
	wg.Wait()
}

// relu computes the answer to req, reusing its payload.
func relu(req *pb.ReluRequest) (*pb.ReluResponse, error) {
	in := req.GetInput()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "input must be set")
	}
	if in.Dtype != pb.DataType_DATA_TYPE_FLOAT32 {
		return nil, status.Errorf(codes.Unimplemented, "the Go peer computes FLOAT32 only, got %v", in.Dtype)
	}
	o, err := newOp(req.GetParams())
	if err != nil {
		return nil, err
	}
	count := int64(1)
	for _, d := range in.Shape {
		if d < 0 {
			return nil, status.Error(codes.InvalidArgument, "negative dimension")
		}
		count *= d
	}
	out := &pb.Tensor{Dtype: in.Dtype, Shape: in.Shape}
	if len(in.FloatData) > 0 {
		if int64(len(in.FloatData)) != count || len(in.RawData) > 0 {
			return nil, status.Error(codes.InvalidArgument, "input.float_data does not match the shape")
		}
		o.run(in.FloatData)
		out.FloatData = in.FloatData
		return &pb.ReluResponse{Output: out}, nil
	}
	if int64(len(in.RawData)) != 4*count {
		return nil, status.Errorf(codes.InvalidArgument, "input.raw_data has %d bytes; shape needs %d", len(in.RawData), 4*count)
	}
	if count > 0 { // little-endian, as raw_data is
		o.run(unsafe.Slice((*float32)(unsafe.Pointer(&in.RawData[0])), count))
	}
	out.RawData = in.RawData
	return &pb.ReluResponse{Output: out}, nil
}

func (server) Relu(_ context.Context, req *pb.ReluRequest) (*pb.ReluResponse, error) {
	return relu(req)
}

func (server) ReluStream(stream pb.ActivationService_ReluStreamServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := relu(req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func main() {
	flag.Parse()
	encoding.RegisterCodec(codec{})
	lis, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatalf("relu_go_server: %v", err)
	}
	s := grpc.NewServer(grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
	pb.RegisterActivationServiceServer(s, server{})
	port := lis.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		partial := *portFile + ".partial"
		if err := os.WriteFile(partial, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			log.Fatalf("relu_go_server: %v", err)
		}
		if err := os.Rename(partial, *portFile); err != nil {
			log.Fatalf("relu_go_server: %v", err)
		}
	}
	fmt.Fprintf(os.Stderr, "relu_go_server listening on port %d, GOMAXPROCS %d\n", port, runtime.GOMAXPROCS(0))
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-signals; s.Stop() }()
	if err := s.Serve(lis); err != nil {
		log.Fatalf("relu_go_server: %v", err)
	}
}
