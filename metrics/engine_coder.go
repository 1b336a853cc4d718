package metrics

// The coder gives the input's string keys integer codes once, so that the
// scans compare integers.

import "strings"

func key2(a, b string) string { return a + "\x00" + b }

// coder gives customers, subscriptions and currencies provisional codes in
// the order they are first seen; settleCodes turns them into ranks.
type coder struct {
	custCode map[string]int32
	custKeys []string
	// Lines look customers up by source, then id: no key is built per line.
	bySource map[string]map[string]int32
	lastSrc  string
	lastMap  map[string]int32
	lastID   string
	lastCust int32
	info     map[string]custInfo

	subCode  map[string]int32
	subKeys  []string
	lastSub  string
	lastSubC int32

	curCode     map[string]int16
	curKeys     []string
	lastCur     string
	lastCurCode int16

	// eventSources are the sources that have subscription events.
	eventSources map[string]bool
}

type custInfo struct {
	name, country  string
	trial, created int64
}

func newCoder() *coder {
	return &coder{custCode: map[string]int32{}, bySource: map[string]map[string]int32{}, lastSrc: "\xff", lastCust: -1,
		info: map[string]custInfo{}, subCode: map[string]int32{}, lastSubC: -1, curCode: map[string]int16{}, lastCur: "\xff"}
}

// forget drops the last values seen, which point into a batch the caller
// may release.
func (k *coder) forget() {
	k.lastSrc, k.lastMap, k.lastID, k.lastCust = "\xff", nil, "", -1
	k.lastSub, k.lastSubC = "", -1
	k.lastCur = "\xff"
}

func (k *coder) addCustomer(key string) int32 {
	c, ok := k.custCode[key]
	if !ok {
		c = int32(len(k.custKeys))
		k.custCode[key] = c
		k.custKeys = append(k.custKeys, key)
	}
	return c
}

func (k *coder) customerOf(src, id string) int32 {
	if src != k.lastSrc {
		k.lastMap = k.bySource[src]
		if k.lastMap == nil {
			k.lastMap = map[string]int32{}
			k.bySource[strings.Clone(src)] = k.lastMap
		}
		k.lastSrc, k.lastCust = src, -1
	}
	if k.lastCust >= 0 && id == k.lastID {
		return k.lastCust
	}
	c, ok := k.lastMap[id]
	if !ok {
		// Keys are cloned: the input's strings point into its batches,
		// which a streamed input releases.
		c = k.addCustomer(key2(src, id))
		k.lastMap[strings.Clone(id)] = c
	}
	k.lastID, k.lastCust = id, c
	return c
}

func (k *coder) subOf(s string) int32 {
	if k.lastSubC >= 0 && s == k.lastSub {
		return k.lastSubC
	}
	c, ok := k.subCode[s]
	if !ok {
		c = int32(len(k.subKeys))
		s = strings.Clone(s)
		k.subCode[s] = c
		k.subKeys = append(k.subKeys, s)
	}
	k.lastSub, k.lastSubC = s, c
	return c
}

func (k *coder) curOf(c string) int16 {
	if c == k.lastCur {
		return k.lastCurCode
	}
	k.lastCur = c
	c = strings.ToLower(c)
	cc, ok := k.curCode[c]
	if !ok && c != "" {
		cc = int16(len(k.curKeys))
		c = strings.Clone(c) // ToLower may return c itself, in the batch
		k.curCode[c] = cc
		k.curKeys = append(k.curKeys, c)
	}
	k.lastCurCode = cc
	return cc
}
