// Command protogen compiles .proto files with a pure-Go compiler
// (bufbuild/protocompile) and runs the protoc-gen-go and protoc-gen-go-grpc
// plugins on them through `go run`, so that regenerating the node's gRPC
// code needs only Go: no protoc binary.
//
// Usage (from the repository root, see the Makefile's generate target):
//
//	cd _tools/protogen && go run . -root ../.. node/nodepb/cohort.proto
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/pluginpb"
)

// The plugins, pinned. Their versions are recorded in the generated files.
var plugins = []struct{ pkg, param string }{
	{"google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12", "paths=source_relative"},
	{"google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2", "paths=source_relative"},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("protogen: ")
	root := flag.String("root", ".", "the folder the .proto paths are relative to, and where files are written")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("usage: protogen -root DIR FILE.proto...")
	}
	files := flag.Args()
	comp := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{*root}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	res, err := comp.Compile(context.Background(), files...)
	if err != nil {
		log.Fatal(err)
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: files}
	seen := map[string]bool{}
	for _, f := range res {
		fdp := protodesc.ToFileDescriptorProto(f)
		// Dependencies first, as protoc orders them.
		imports := f.Imports()
		for i := 0; i < imports.Len(); i++ {
			d := protodesc.ToFileDescriptorProto(imports.Get(i).FileDescriptor)
			if !seen[d.GetName()] {
				seen[d.GetName()] = true
				req.ProtoFile = append(req.ProtoFile, d)
			}
		}
		if !seen[fdp.GetName()] {
			seen[fdp.GetName()] = true
			req.ProtoFile = append(req.ProtoFile, fdp)
		}
	}
	for _, p := range plugins {
		req.Parameter = proto.String(p.param)
		in, err := proto.Marshal(req)
		if err != nil {
			log.Fatal(err)
		}
		cmd := exec.Command("go", "run", p.pkg)
		cmd.Stdin = bytes.NewReader(in)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			log.Fatalf("%s: %v", p.pkg, err)
		}
		var resp pluginpb.CodeGeneratorResponse
		if err := proto.Unmarshal(out, &resp); err != nil {
			log.Fatalf("%s: %v", p.pkg, err)
		}
		if resp.Error != nil {
			log.Fatalf("%s: %s", p.pkg, resp.GetError())
		}
		for _, f := range resp.File {
			path := filepath.Join(*root, f.GetName())
			if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
				log.Fatal(err)
			}
			fmt.Println("wrote", f.GetName())
		}
	}
}
