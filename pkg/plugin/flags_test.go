package plugin

import "flag"

// update rewrites the golden files in testdata/golden instead of comparing.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Update is the same flag for the end-to-end tests of package plugin_test,
// which share this test binary.
var Update = update
