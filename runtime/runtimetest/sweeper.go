package runtimetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
)

// SweeperConfig says how to run the Sweeper suite against one backend.
// Fast-Flow makes no volumes or images itself, so the backend's test makes
// them, each way its engine does.
type SweeperConfig struct {
	// New returns the backend; the suite does not close it.
	New func(t *testing.T) runtime.Sweeper
	// CreateVolume makes a volume named name with labels, removed when t
	// ends if the suite left it.
	CreateVolume func(t *testing.T, name string, labels map[string]string)
	// CreateDanglingImage makes a dangling image with labels and returns
	// its ID, removed when t ends if the suite left it.
	CreateDanglingImage func(t *testing.T, labels map[string]string) string
	// Use makes a container use the volume or image named (as a volume
	// mounted, as the image it was created from) until release is called.
	Use func(t *testing.T, volume, image string) (release func())
}

// RunSweeper runs the Sweeper conformance suite. Its subtests run in
// parallel.
func RunSweeper(t *testing.T, cfg SweeperConfig) {
	t.Helper()
	if cfg.New == nil || cfg.CreateVolume == nil || cfg.CreateDanglingImage == nil || cfg.Use == nil {
		t.Fatal("runtimetest: SweeperConfig needs New, CreateVolume, CreateDanglingImage and Use")
	}
	s := &sweeperSuite{cfg: cfg, sw: cfg.New(t)}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"VolumesByLabel", s.testVolumesByLabel},
		{"RemoveVolumeIdempotent", s.testRemoveVolume},
		{"VolumeInUse", s.testVolumeInUse},
		{"DanglingImagesByLabel", s.testImagesByLabel},
		{"RemoveImageIdempotent", s.testRemoveImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

type sweeperSuite struct {
	cfg SweeperConfig
	sw  runtime.Sweeper
}

// group returns labels unique to one subtest, and a volume name prefix.
func group() (map[string]string, string) {
	id := randomID()
	return map[string]string{"fastflow-test-group": id}, "fastflow-conformance-" + id
}

func (s *sweeperSuite) volumeNames(t *testing.T, labels map[string]string) []string {
	t.Helper()
	vs, err := s.sw.Volumes(ctxFor(t), labels)
	if err != nil {
		t.Fatalf("Volumes(%v): %v", labels, err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	return names
}

func (s *sweeperSuite) imageIDs(t *testing.T, labels map[string]string) []string {
	t.Helper()
	imgs, err := s.sw.DanglingImages(ctxFor(t), labels)
	if err != nil {
		t.Fatalf("DanglingImages(%v): %v", labels, err)
	}
	var ids []string
	for _, img := range imgs {
		ids = append(ids, img.ID)
	}
	slices.Sort(ids)
	return ids
}

func (s *sweeperSuite) testVolumesByLabel(t *testing.T) {
	labels, prefix := group()
	tagged := map[string]string{"fastflow-test-group": labels["fastflow-test-group"], "fastflow-test-extra": "1"}
	s.cfg.CreateVolume(t, prefix+"-a", labels)
	s.cfg.CreateVolume(t, prefix+"-b", tagged)
	s.cfg.CreateVolume(t, prefix+"-other", map[string]string{"fastflow-test-group": "other-" + randomID()})

	want := []string{prefix + "-a", prefix + "-b"}
	if diff := cmp.Diff(want, s.volumeNames(t, labels)); diff != "" {
		t.Errorf("Volumes of the group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{prefix + "-b"}, s.volumeNames(t, tagged)); diff != "" {
		t.Errorf("Volumes with both labels (-want +got):\n%s", diff)
	}
	vs, err := s.sw.Volumes(ctxFor(t), tagged)
	if err != nil || len(vs) != 1 {
		t.Fatalf("Volumes(%v) = %v, %v", tagged, vs, err)
	}
	if diff := cmp.Diff(tagged, vs[0].Labels); diff != "" {
		t.Errorf("labels of the listed volume (-want +got):\n%s", diff)
	}
}

func (s *sweeperSuite) testRemoveVolume(t *testing.T) {
	labels, prefix := group()
	s.cfg.CreateVolume(t, prefix, labels)
	ctx := ctxFor(t)
	for i := range 2 {
		if err := s.sw.RemoveVolume(ctx, prefix); err != nil {
			t.Fatalf("RemoveVolume #%d: %v", i+1, err)
		}
	}
	if got := s.volumeNames(t, labels); len(got) != 0 {
		t.Errorf("Volumes after RemoveVolume = %v, want none", got)
	}
	if err := s.sw.RemoveVolume(ctx, prefix+"-never-made"); err != nil {
		t.Errorf("RemoveVolume of an unknown volume: %v", err)
	}
}

func (s *sweeperSuite) testVolumeInUse(t *testing.T) {
	labels, prefix := group()
	s.cfg.CreateVolume(t, prefix, labels)
	inUse := func() bool {
		vs, err := s.sw.Volumes(ctxFor(t), labels)
		if err != nil || len(vs) != 1 {
			t.Fatalf("Volumes = %+v, %v; want the one volume", vs, err)
		}
		return vs[0].InUse
	}
	if inUse() {
		t.Error("a volume no container uses is listed in use")
	}
	release := s.cfg.Use(t, prefix, "")
	if !inUse() {
		t.Error("a volume a container uses is not listed in use")
	}
	if err := s.sw.RemoveVolume(ctxFor(t), prefix); !errors.Is(err, runtime.ErrInUse) {
		t.Errorf("RemoveVolume of a volume in use = %v, want ErrInUse", err)
	}
	if diff := cmp.Diff([]string{prefix}, s.volumeNames(t, labels)); diff != "" {
		t.Errorf("the volume in use is gone (-want +got):\n%s", diff)
	}
	release()
	if err := s.sw.RemoveVolume(ctxFor(t), prefix); err != nil {
		t.Errorf("RemoveVolume once released: %v", err)
	}
}

func (s *sweeperSuite) testImagesByLabel(t *testing.T) {
	labels, _ := group()
	a := s.cfg.CreateDanglingImage(t, labels)
	b := s.cfg.CreateDanglingImage(t, labels)
	s.cfg.CreateDanglingImage(t, map[string]string{"fastflow-test-group": "other-" + randomID()})

	want := []string{a, b}
	slices.Sort(want)
	if diff := cmp.Diff(want, s.imageIDs(t, labels)); diff != "" {
		t.Errorf("DanglingImages of the group (-want +got):\n%s", diff)
	}
	if got := s.imageIDs(t, nil); len(got) != 0 {
		t.Errorf("DanglingImages without labels = %v, want none", got)
	}
}

func (s *sweeperSuite) testRemoveImage(t *testing.T) {
	labels, _ := group()
	id := s.cfg.CreateDanglingImage(t, labels)
	used := s.cfg.CreateDanglingImage(t, labels)
	release := s.cfg.Use(t, "", used)
	ctx := ctxFor(t)
	imgs, err := s.sw.DanglingImages(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if want := img.ID == used; img.InUse != want {
			t.Errorf("image %s listed with InUse %v, want %v", img.ID, img.InUse, want)
		}
	}
	if err := s.sw.RemoveImage(ctx, used); !errors.Is(err, runtime.ErrInUse) {
		t.Errorf("RemoveImage of an image a container uses = %v, want ErrInUse", err)
	}
	for i := range 2 {
		if err := s.sw.RemoveImage(ctx, id); err != nil {
			t.Fatalf("RemoveImage #%d: %v", i+1, err)
		}
	}
	if diff := cmp.Diff([]string{used}, s.imageIDs(t, labels)); diff != "" {
		t.Errorf("DanglingImages after RemoveImage (-want +got):\n%s", diff)
	}
	release()
	if err := s.sw.RemoveImage(ctx, used); err != nil {
		t.Errorf("RemoveImage once released: %v", err)
	}
}
