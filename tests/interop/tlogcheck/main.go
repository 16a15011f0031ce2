// Command tlogcheck checks Airlock's transparency-log vectors with Go's own
// implementation: golang.org/x/mod/sumdb/tlog for the Merkle tree and its
// proofs, and golang.org/x/mod/sumdb/note for signed notes. Nothing of
// Airlock's is used to check anything: leaf data goes into Go's tree, and
// every root, proof and checkpoint Airlock made is compared with what Go
// computes or checked with Go's verifiers.
//
// Usage: tlogcheck VECTORS.json
//
// The vectors file (written by attest/tlog/tests/go_interop.rs) is JSON:
//
//	{
//	  "leaves":      ["<hex leaf data>", ...],
//	  "roots":       ["<hex root of the first i+1 leaves>", ...],
//	  "inclusion":   [{"index": n, "size": t, "proof": ["<hex>", ...]}, ...],
//	  "consistency": [{"old": n, "new": t, "proof": ["<hex>", ...]}, ...],
//	  "checkpoints": [{"vkey": "...", "note": "...", "size": t, "root": "<hex>"}, ...],
//	  "altered":     [{"vkey": "...", "note": "...", "what": "..."}, ...]
//	}
//
// It prints one summary line with the counts checked and exits 0, or names
// every disagreement (the first 50) and exits 1.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
}

type consistency struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"`
}

type checkpoint struct {
	Vkey string `json:"vkey"`
	Note string `json:"note"`
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type altered struct {
	Vkey string `json:"vkey"`
	Note string `json:"note"`
	What string `json:"what"`
}

type vectors struct {
	Leaves      []string      `json:"leaves"`
	Roots       []string      `json:"roots"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
	Checkpoints []checkpoint  `json:"checkpoints"`
	Altered     []altered     `json:"altered"`
}

var failures []string

func fail(format string, args ...interface{}) {
	failures = append(failures, fmt.Sprintf(format, args...))
}

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil {
		return h, err
	}
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func parseHashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(list))
	for _, s := range list {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func equal(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck VECTORS.json")
		os.Exit(2)
	}
	raw, err := ioutil.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck:", err)
		os.Exit(2)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck: vectors:", err)
		os.Exit(2)
	}

	// Go's tree over the leaf data, stored the way sumdb stores it.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d of %d", x, len(stored))
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	leafHashes := make([]tlog.Hash, len(v.Leaves))
	for i, s := range v.Leaves {
		data, err := hex.DecodeString(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlogcheck: leaf %d: %v\n", i, err)
			os.Exit(2)
		}
		leafHashes[i] = tlog.RecordHash(data)
		hs, err := tlog.StoredHashes(int64(i), data, reader)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlogcheck: StoredHashes(%d): %v\n", i, err)
			os.Exit(2)
		}
		stored = append(stored, hs...)
	}
	n := int64(len(v.Leaves))
	goRoot := make([]tlog.Hash, n+1)
	for size := int64(1); size <= n; size++ {
		h, err := tlog.TreeHash(size, reader)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlogcheck: TreeHash(%d): %v\n", size, err)
			os.Exit(2)
		}
		goRoot[size] = h
	}
	// A sanity check of Go's tree itself, so that a broken reader cannot
	// make everything below agree vacuously: RFC 6962's 2-leaf root.
	if n >= 2 && goRoot[2] != tlog.NodeHash(leafHashes[0], leafHashes[1]) {
		fail("Go's own tree: TreeHash(2) is not NodeHash of the first two record hashes")
	}

	// (a) roots.
	if int64(len(v.Roots)) != n {
		fail("roots: %d roots for %d leaves", len(v.Roots), n)
	}
	roots := 0
	for i, s := range v.Roots {
		size := int64(i + 1)
		h, err := parseHash(s)
		if err != nil {
			fail("root of size %d: %v", size, err)
			continue
		}
		if size > n {
			continue
		}
		if h != goRoot[size] {
			fail("root of size %d: Airlock %s, Go TreeHash %s", size, s, hex.EncodeToString(goRoot[size][:]))
			continue
		}
		roots++
	}

	// (b) inclusion proofs.
	inclusions, tamperedInclusion := 0, 0
	for _, c := range v.Inclusion {
		if c.Size < 1 || c.Size > n || c.Index < 0 || c.Index >= c.Size {
			fail("inclusion %d in %d: outside the %d leaves", c.Index, c.Size, n)
			continue
		}
		proof, err := parseHashes(c.Proof)
		if err != nil {
			fail("inclusion %d in %d: %v", c.Index, c.Size, err)
			continue
		}
		ok := true
		if err := tlog.CheckRecord(proof, c.Size, goRoot[c.Size], c.Index, leafHashes[c.Index]); err != nil {
			fail("inclusion %d in %d: Go CheckRecord rejects Airlock's proof: %v", c.Index, c.Size, err)
			ok = false
		}
		want, err := tlog.ProveRecord(c.Size, c.Index, reader)
		if err != nil {
			fail("inclusion %d in %d: Go ProveRecord: %v", c.Index, c.Size, err)
			ok = false
		} else if !equal(proof, want) {
			fail("inclusion %d in %d: Airlock's proof differs from Go's ProveRecord", c.Index, c.Size)
			ok = false
		}
		if ok {
			inclusions++
		}
		if len(proof) > 0 {
			bad := append([]tlog.Hash(nil), proof...)
			k := int(c.Index) % len(bad)
			bad[k][int(c.Size)%tlog.HashSize] ^= 1
			if tlog.CheckRecord(bad, c.Size, goRoot[c.Size], c.Index, leafHashes[c.Index]) == nil {
				fail("inclusion %d in %d: Go CheckRecord accepts the proof with hash %d altered", c.Index, c.Size, k)
			} else {
				tamperedInclusion++
			}
		}
	}

	// (c) consistency proofs.
	consistencies, tamperedConsistency := 0, 0
	for _, c := range v.Consistency {
		if c.Old < 1 || c.New > n || c.Old > c.New {
			fail("consistency %d -> %d: not 0 < old <= new <= %d", c.Old, c.New, n)
			continue
		}
		proof, err := parseHashes(c.Proof)
		if err != nil {
			fail("consistency %d -> %d: %v", c.Old, c.New, err)
			continue
		}
		ok := true
		if err := tlog.CheckTree(proof, c.New, goRoot[c.New], c.Old, goRoot[c.Old]); err != nil {
			fail("consistency %d -> %d: Go CheckTree rejects Airlock's proof: %v", c.Old, c.New, err)
			ok = false
		}
		want, err := tlog.ProveTree(c.New, c.Old, reader)
		if err != nil {
			fail("consistency %d -> %d: Go ProveTree: %v", c.Old, c.New, err)
			ok = false
		} else if !equal(proof, want) {
			fail("consistency %d -> %d: Airlock's proof differs from Go's ProveTree", c.Old, c.New)
			ok = false
		}
		if ok {
			consistencies++
		}
		if len(proof) > 0 {
			bad := append([]tlog.Hash(nil), proof...)
			k := int(c.Old) % len(bad)
			bad[k][int(c.New)%tlog.HashSize] ^= 1
			if tlog.CheckTree(bad, c.New, goRoot[c.New], c.Old, goRoot[c.Old]) == nil {
				fail("consistency %d -> %d: Go CheckTree accepts the proof with hash %d altered", c.Old, c.New, k)
			} else {
				tamperedConsistency++
			}
		}
	}

	// (d) signed checkpoints: note.Open with Airlock's vkey, and the body's
	// size and root against Go's tree.
	checkpoints := 0
	for i, c := range v.Checkpoints {
		verifier, err := note.NewVerifier(c.Vkey)
		if err != nil {
			fail("checkpoint %d: note.NewVerifier(%q): %v", i, c.Vkey, err)
			continue
		}
		opened, err := note.Open([]byte(c.Note), note.VerifierList(verifier))
		if err != nil {
			fail("checkpoint %d: note.Open: %v", i, err)
			continue
		}
		if len(opened.Sigs) != 1 || opened.Sigs[0].Name != verifier.Name() || opened.Sigs[0].Hash != verifier.KeyHash() {
			fail("checkpoint %d: note.Open verified %d signatures, not the one by %s", i, len(opened.Sigs), verifier.Name())
			continue
		}
		lines := strings.SplitAfter(opened.Text, "\n")
		if len(lines) < 3 || !strings.HasSuffix(lines[2], "\n") {
			fail("checkpoint %d: body has fewer than three lines: %q", i, opened.Text)
			continue
		}
		size, err := strconv.ParseInt(strings.TrimSuffix(lines[1], "\n"), 10, 64)
		if err != nil || size != c.Size {
			fail("checkpoint %d: size line %q, expected %d", i, lines[1], c.Size)
			continue
		}
		root, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
		if err != nil || len(root) != tlog.HashSize {
			fail("checkpoint %d: root line %q is not a base64 hash", i, lines[2])
			continue
		}
		want, _ := parseHash(c.Root)
		if !bytes.Equal(root, want[:]) {
			fail("checkpoint %d: root line differs from the vectors' root", i)
			continue
		}
		if size >= 1 && size <= n && !bytes.Equal(root, goRoot[size][:]) {
			fail("checkpoint %d: root of size %d differs from Go's TreeHash", i, size)
			continue
		}
		checkpoints++
	}
	rejected := 0
	for i, c := range v.Altered {
		verifier, err := note.NewVerifier(c.Vkey)
		if err != nil {
			fail("altered note %d (%s): note.NewVerifier: %v", i, c.What, err)
			continue
		}
		_, err = note.Open([]byte(c.Note), note.VerifierList(verifier))
		if err == nil {
			fail("altered note %d (%s): note.Open accepts it", i, c.What)
			continue
		}
		// The key is known and its line is there: the rejection must be
		// that the signature does not verify, not that the note is unreadable.
		if _, ok := err.(*note.InvalidSignatureError); !ok {
			fail("altered note %d (%s): note.Open rejects it for another reason: %v", i, c.What, err)
			continue
		}
		rejected++
	}

	if len(failures) > 0 {
		for i, f := range failures {
			if i == 50 {
				fmt.Printf("... and %d more\n", len(failures)-50)
				break
			}
			fmt.Println("DISAGREE:", f)
		}
		fmt.Printf("tlogcheck: FAILED: %d disagreements\n", len(failures))
		os.Exit(1)
	}
	fmt.Printf("tlogcheck: ok: %d roots, %d inclusion proofs (%d altered rejected), %d consistency proofs (%d altered rejected), %d checkpoints, %d altered notes rejected\n",
		roots, inclusions, tamperedInclusion, consistencies, tamperedConsistency, checkpoints, rejected)
}
