package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedArtifactsAreCurrent fails when a committed artifact differs
// from what the Go model generates now, i.e. when someone changed the Go
// types or constants without regenerating.
func TestCommittedArtifactsAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	for _, a := range artifacts {
		want, err := render(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(a.path)))
		if err != nil {
			t.Errorf("%s: %v; run go run ./pkg/cmd/modelgen", a.path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: it differs from the generated model; run go run ./pkg/cmd/modelgen", a.path)
		}
	}
}

// TestWriteAll checks that the command writes exactly what the staleness
// test compares against.
func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	if err := writeAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, a := range artifacts {
		want, err := render(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(a.path)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: written bytes differ from render", a.path)
		}
	}
}
