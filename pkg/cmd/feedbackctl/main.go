// Command feedbackctl exports datasets, gates deployments and posts
// resolutions; see docs/feedbackctl.md.
package main

import (
	"os"

	"github.com/feedbackloop/modelfeedback/pkg/ctl"
)

func main() { os.Exit(ctl.Main(os.Args[1:])) }
