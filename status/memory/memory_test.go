package memory_test

import (
	"testing"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/memory"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) status.Store { return memory.New() })
}
