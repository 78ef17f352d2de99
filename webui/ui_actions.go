package webui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

// actionResult is the answer to a page's action. app.js asks for it as JSON
// and shows it as a toast; a browser without JavaScript gets a redirect and
// the message as a flash.
type actionResult struct {
	OK       bool              `json:"ok"`
	Message  string            `json:"message"`
	Redirect string            `json:"redirect,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
}

// wantsJSON reports whether the action was sent by app.js.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// answerAction sends res: as JSON with code, or as a redirect to
// res.Redirect (else back) with a flash.
func (s *Server) answerAction(w http.ResponseWriter, r *http.Request, code int, res actionResult, back string) {
	if wantsJSON(r) {
		writeJSON(w, code, res)
		return
	}
	kind := "success"
	if !res.OK {
		kind = "error"
	}
	s.setFlash(w, r, toast{Kind: kind, Message: res.Message})
	to := back
	if res.Redirect != "" {
		to = res.Redirect
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// actionFailed answers an error of the operator or the store.
func (s *Server) actionFailed(w http.ResponseWriter, r *http.Request, what string, err error, back string) {
	f, ok := s.opFailed(w, r, err)
	if !ok {
		return
	}
	res := actionResult{Message: what + ": " + f.title}
	switch d := f.detail.(type) {
	case string:
		if d != "" {
			res.Message += " (" + d + ")"
		}
	case map[string]string:
		res.Errors = d // per-parameter problems, shown beside their fields
	}
	s.answerAction(w, r, f.code, res, back)
}

// maxFormBytes bounds an action's form; a run form has a few fields.
const maxFormBytes = 64 << 10

func (s *Server) uiActionRun(w http.ResponseWriter, r *http.Request, u *ui) {
	name := r.PathValue("name")
	back := "/pipelines/" + url.PathEscape(name)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.answerAction(w, r, http.StatusBadRequest, actionResult{Message: "Malformed form: " + err.Error()}, back)
		return
	}
	params := map[string]any{}
	for k, vs := range r.PostForm {
		pname, ok := strings.CutPrefix(k, "p.")
		// An empty field means "not given": the default applies, or the
		// operator says the parameter is required.
		if !ok || len(vs) == 0 || vs[len(vs)-1] == "" {
			continue
		}
		params[pname] = vs[len(vs)-1]
	}
	// The checkbox sends a value only when it is ticked.
	queue := r.PostForm.Get("queue") != ""
	run, err := s.cfg.Operator.RunPipeline(r.Context(), operator.RunRequest{
		Pipeline: name, Parameters: params, Trigger: status.TriggerManual, TriggeredBy: triggeredBy(r), Queue: queue,
	})
	if errors.Is(err, operator.ErrTooManyRuns) && !queue {
		// Say how to get the run anyway.
		err = fmt.Errorf("%w; tick %q to wait for one", err, queueLabel)
	}
	if err != nil {
		var perr *operator.ParamError
		if errors.As(err, &perr) && !wantsJSON(r) {
			// Without JavaScript the form comes back with each problem
			// beside its field and the values as typed.
			s.renderPipeline(w, r, u, http.StatusUnprocessableEntity, r.PostForm, perr.Fields, "The run was not started: check the fields marked below.")
			return
		}
		s.actionFailed(w, r, "Run not started", err, back)
		return
	}
	msg := fmt.Sprintf("Run %s of %s started.", shortRunID(run.ID), name)
	if isQueued(run) {
		msg = fmt.Sprintf("Run %s of %s queued: all slots are busy, it starts when one frees.", shortRunID(run.ID), name)
	}
	s.answerAction(w, r, runCreatedCode(run), actionResult{OK: true, Message: msg, Redirect: "/runs/" + run.ID}, back)
}

// queueLabel is the run form's checkbox, named in the hint of a refusal.
const queueLabel = "Queue if all slots are busy"

func (s *Server) uiActionReset(w http.ResponseWriter, r *http.Request, _ *ui) {
	name := r.PathValue("name")
	back := "/pipelines/" + url.PathEscape(name)
	if _, _, ok := s.livePipeline(name); !ok {
		s.answerAction(w, r, http.StatusNotFound, actionResult{Message: "No pipeline named " + name + "."}, "/")
		return
	}
	if err := s.cfg.Store.ResetCounters(r.Context(), name); err != nil && !errors.Is(err, status.ErrNotFound) {
		s.actionFailed(w, r, "Counters not reset", fmt.Errorf("reset counters of %s: %w", name, err), back)
		return
	}
	s.answerAction(w, r, http.StatusOK, actionResult{OK: true, Message: "Counters of " + name + " reset."}, back)
}

// runAction loads the run of an action's path; false when it answered.
func (s *Server) runAction(w http.ResponseWriter, r *http.Request) (status.Run, bool) {
	run, err := s.runByID(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, status.ErrNotFound):
		s.answerAction(w, r, http.StatusNotFound, actionResult{Message: "No run with that id."}, "/runs")
		return status.Run{}, false
	case err != nil:
		s.actionFailed(w, r, "Run not loaded", err, "/runs")
		return status.Run{}, false
	}
	return run, true
}

func (s *Server) uiActionCancel(w http.ResponseWriter, r *http.Request, _ *ui) {
	run, ok := s.runAction(w, r)
	if !ok {
		return
	}
	back := "/runs/" + run.ID
	if run.Status.Final() {
		s.answerAction(w, r, http.StatusConflict, actionResult{Message: "Run " + shortRunID(run.ID) + " already ended " + string(run.Status) + "."}, back)
		return
	}
	if err := s.cfg.Operator.CancelRun(r.Context(), run.ID); err != nil {
		s.actionFailed(w, r, "Not cancelled", err, back)
		return
	}
	s.answerAction(w, r, http.StatusAccepted, actionResult{OK: true, Message: "Cancelling run " + shortRunID(run.ID) + "."}, back)
}

func (s *Server) uiActionRetry(w http.ResponseWriter, r *http.Request, _ *ui) {
	run, ok := s.runAction(w, r)
	if !ok {
		return
	}
	next, err := s.cfg.Operator.RetryRun(r.Context(), run.ID, triggeredBy(r))
	if err != nil {
		s.actionFailed(w, r, "Not retried", err, "/runs/"+run.ID)
		return
	}
	s.answerAction(w, r, http.StatusCreated, actionResult{OK: true, Message: "Retry " + shortRunID(next.ID) + " of run " + shortRunID(run.ID) + " started.",
		Redirect: "/runs/" + next.ID}, "/runs/"+run.ID)
}

func (s *Server) uiActionSync(w http.ResponseWriter, r *http.Request, _ *ui) {
	s.cfg.Operator.RequestSync(operator.TriggerManual)
	back := localRedirect(r.URL.Query().Get("back"))
	s.answerAction(w, r, http.StatusAccepted, actionResult{OK: true, Message: "Sync requested."}, back)
}
