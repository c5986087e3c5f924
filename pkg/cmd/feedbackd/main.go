// Command feedbackd is the durable feedback collector; see docs/collector-api.md.
package main

import (
	"os"

	"github.com/feedbackloop/modelfeedback/pkg/collector"
)

func main() { os.Exit(collector.Main(os.Args[1:])) }
