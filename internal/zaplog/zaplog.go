// Package zaplog bridges etcd's zap logs to log/slog, so a coordkit user sees
// one log stream: the root package's Connect and the node package's embedded
// members both log through it. A hook lets the node watch for tell-tale
// records (a peer of another cluster) while it waits to become ready.
package zaplog

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog is a zapcore.Core that forwards etcd's zap records to a
// *slog.Logger.
type zapToSlog struct {
	lg     *slog.Logger
	level  zapcore.Level
	fields []zapcore.Field
	hook   func(msg string, fields []zapcore.Field)
	quiet  *atomic.Bool // set while the node shuts down: its errors then are expected
}

// benign are etcd warnings that say nothing actionable to a coordkit user
// (coordkit chose these settings on purpose); they are logged at debug.
var benign = []string{
	"Running http and grpc server on single port",
	"simple token is not cryptographically signed",
	"it isn't recommended to use default name",
	"Failed to detect schema version",
	"failed to update storage version",
}

// New returns a zap logger that writes to lg at min level and
// above, calling hook for every record at warn level or above whatever the
// level, so start-up can notice peers of a different cluster.
func New(lg *slog.Logger, min slog.Level, hook func(string, []zapcore.Field), quiet *atomic.Bool) *zap.Logger {
	if quiet == nil {
		quiet = new(atomic.Bool)
	}
	return zap.New(&zapToSlog{lg: lg, level: slogToZap(min), hook: hook, quiet: quiet})
}

func slogToZap(l slog.Level) zapcore.Level {
	switch {
	case l <= slog.LevelDebug:
		return zapcore.DebugLevel
	case l <= slog.LevelInfo:
		return zapcore.InfoLevel
	case l <= slog.LevelWarn:
		return zapcore.WarnLevel
	default:
		return zapcore.ErrorLevel
	}
}

func zapToSlogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *zapToSlog) Enabled(l zapcore.Level) bool {
	return l >= c.level || (c.hook != nil && l >= zapcore.WarnLevel)
}

func (c *zapToSlog) With(fs []zapcore.Field) zapcore.Core {
	cp := *c
	cp.fields = append(append([]zapcore.Field(nil), c.fields...), fs...)
	return &cp
}

func (c *zapToSlog) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapToSlog) Write(e zapcore.Entry, fs []zapcore.Field) error {
	all := fs
	if len(c.fields) > 0 {
		all = append(append([]zapcore.Field(nil), c.fields...), fs...)
	}
	if c.hook != nil && e.Level >= zapcore.WarnLevel {
		c.hook(e.Message, all)
	}
	level := e.Level
	for _, b := range benign {
		if strings.HasPrefix(e.Message, b) {
			level = zapcore.DebugLevel
		}
	}
	if level < c.level || c.quiet.Load() {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range all {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.lg.LogAttrs(context.Background(), zapToSlogLevel(level), e.Message, attrs...)
	return nil
}

func (c *zapToSlog) Sync() error { return nil }
