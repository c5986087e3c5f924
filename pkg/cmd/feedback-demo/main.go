// Command feedback-demo simulates a chatbot in three versions sending
// interaction snapshots and user feedback to feedbackd; see docs/running.md.
package main

import (
	"os"

	"github.com/feedbackloop/modelfeedback/pkg/demo"
)

func main() { os.Exit(demo.Main(os.Args[1:])) }
