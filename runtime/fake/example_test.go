package fake_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
)

// An operator test scripts what its pipelines do, drives them on a fake
// clock and takes the daemon away in the middle.
func Example() {
	ctx := context.Background()
	clk := fake.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Config{
		Clock: clk,
		Program: func(spec runtime.RunSpec) fake.Program {
			return fake.Program{
				fake.Print("working"),
				fake.Sleep(time.Minute),
				fake.Print("done"),
				fake.Exit(0),
			}
		},
	})
	defer rt.Close()

	id, _ := rt.Start(ctx, runtime.RunSpec{RunID: "run-1", Pipeline: "hello", Image: "worker", Command: []string{"uv", "run", "main.py"}, Init: true})

	rt.SetAvailable(false)
	_, err := rt.Wait(ctx, id)
	fmt.Println("while down:", errors.Is(err, runtime.ErrUnavailable))
	clk.Advance(time.Minute) // the container goes on meanwhile
	rt.SetAvailable(true)

	restarted := rt.Connect()
	st, _ := restarted.Wait(ctx, id)
	snap, _ := restarted.Container(id)
	fmt.Println("exit:", st.Code, "after", st.FinishedAt.Sub(snap.StartedAt))
	for _, l := range snap.Lines {
		fmt.Println(l.Time.Format("15:04:05"), l.Text)
	}
	// Output:
	// while down: true
	// exit: 0 after 1m0s
	// 00:00:00 working
	// 00:01:00 done
}
