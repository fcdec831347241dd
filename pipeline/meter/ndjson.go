package meter

import (
	"bytes"
	"encoding/json"
)

// feedNDJSON splits p into lines, continuing the line held from earlier
// reads, and forwards every completed one.
func (r *relay) feedNDJSON(p []byte) error {
	start := 0
	for {
		j := bytes.IndexByte(p[start:], '\n')
		if j < 0 {
			break
		}
		end := start + j + 1
		if r.passthrough {
			r.passthrough = false
			r.res.Events++
			if err := r.emit(p[start:end]); err != nil {
				return err
			}
			r.boundary = true
		} else {
			line := p[start:end]
			if len(r.pend) > 0 {
				r.pend = append(r.pend, line...)
				line = r.pend
			}
			err := r.handleLine(line)
			r.pend = r.pend[:0]
			if err != nil {
				return err
			}
		}
		start = end
	}
	return r.holdTail(p[start:])
}

// ndjsonFinal holds the parts of Ollama's final streamed object the meter
// reads.
type ndjsonFinal struct {
	Done            json.RawMessage `json:"done"`
	PromptEvalCount json.RawMessage `json:"prompt_eval_count"`
	EvalCount       json.RawMessage `json:"eval_count"`
}

// handleLine inspects and forwards one NDJSON line (with its newline, if
// any).
func (r *relay) handleLine(line []byte) error {
	r.res.Events++
	if hasKeyIs(line, `"done"`, 't') {
		var f ndjsonFinal
		if json.Unmarshal(line, &f) == nil && string(f.Done) == "true" {
			r.res.SawDone = true
			if f.PromptEvalCount != nil || f.EvalCount != nil {
				r.tokens = ollamaTokens(f.PromptEvalCount, f.EvalCount)
			}
		}
	}
	if err := r.emit(line); err != nil {
		return err
	}
	r.boundary = line[len(line)-1] == '\n'
	return nil
}
