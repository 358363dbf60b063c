package interop_test

import "strconv"

func parseHex(s string) (int64, error) { return strconv.ParseInt(s, 16, 64) }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
