// Command modelgen writes the generated model artifacts (the event JSON
// Schema and the query model the frontend is checked against). Run it from
// the repository root: go run ./pkg/cmd/modelgen
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := writeAll("."); err != nil {
		fmt.Fprintln(os.Stderr, "modelgen:", err)
		os.Exit(1)
	}
}
