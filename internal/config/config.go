// Package config holds isogate's configuration tree: documented defaults, a
// YAML file over them, ISOGATE_* environment variables over the file, and
// command-line flags over everything (applied by the command).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable the configuration reads. The
// variable for a setting is the prefix plus its YAML path in upper case,
// joined by underscores: nats.embedded.port → ISOGATE_NATS_EMBEDDED_PORT.
const EnvPrefix = "ISOGATE_"

// Config is the whole configuration. The zero value is not useful; start from
// Default or Load.
type Config struct {
	// DataDir holds the embedded server's JetStream files. Default: ./data.
	DataDir string `yaml:"data_dir"`
	// ProfilesDir holds bank profiles as NAME.yaml files that override and
	// extend the built-in ones (a file may start with "base: ekase").
	// Default: none, the built-in profiles only.
	ProfilesDir string `yaml:"profiles_dir"`
	// ShutdownTimeout bounds the drain after SIGINT/SIGTERM. Default: 8s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Log             Log           `yaml:"log"`
	NATS            NATS          `yaml:"nats"`
	Ops             Ops           `yaml:"ops"`
	Publish         Publish       `yaml:"publish"`
}

// Log configures the gateway's structured log on stderr.
type Log struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is json or text. Default: json.
	Format string `yaml:"format"`
}

// NATS says where JetStream is and how the gateway's streams are shaped.
type NATS struct {
	// URL of an external NATS server or cluster (comma-separated seeds). Empty
	// (the default) starts an embedded server with the Embedded settings.
	URL string `yaml:"url"`
	// User and Password authenticate to an external server.
	User     string `yaml:"user"`
	Password string `yaml:"password" secret:"true"`
	// Token authenticates to an external server.
	Token string `yaml:"token" secret:"true"`
	// CredsFile is a NATS .creds file (JWT + seed) for an external server.
	CredsFile string `yaml:"creds_file"`
	// ConnectTimeout bounds one connection attempt. Default: 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	Embedded       Embedded      `yaml:"embedded"`
	Streams        Streams       `yaml:"streams"`
}

// Embedded configures the in-process NATS server used when NATS.URL is empty.
type Embedded struct {
	// Host the client and monitoring ports listen on. Default: 127.0.0.1.
	Host string `yaml:"host"`
	// Port for NATS clients. Default: 4222; -1 picks a free port.
	Port int `yaml:"port"`
	// MonitorPort serves /varz, /jsz and friends. Default: 8222; 0 disables
	// it; -1 picks a free port.
	MonitorPort int `yaml:"monitor_port"`
	// SyncInterval is "always" (the default: fsync every write, so an
	// acknowledged payment survives power loss) or a duration such as "2m"
	// (faster, and may lose acknowledged writes on power failure).
	SyncInterval string `yaml:"sync_interval"`
	// MaxStore caps JetStream file storage, e.g. "10GB". Default: no cap
	// beyond the server's own (75% of free disk).
	MaxStore string `yaml:"max_store"`
}

// Streams shapes the streams, buckets and object store the gateway
// provisions at every start.
type Streams struct {
	// Replicas for every stream, bucket and object store: 1 for one server,
	// 3 for a three-node cluster. Default: 1.
	Replicas int `yaml:"replicas"`
	// DuplicateWindow is JetStream's Nats-Msg-Id de-duplication window for the
	// PAYMENTS stream. It is not the idempotency registry (the per-intent
	// subject is). Default: 2m.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// MaxAge keeps messages of the named stream (PAYMENTS, STATEMENTS, DLQ,
	// OPS) at most this long. Default: forever. An intent id older than the
	// PAYMENTS max age can no longer be recognised as a duplicate by publish.
	MaxAge map[string]time.Duration `yaml:"max_age"`
}

// Ops is the operator HTTP server: /healthz, /readyz, /metrics.
type Ops struct {
	// Listen address. Default: 127.0.0.1:8080. Empty disables the server.
	Listen string `yaml:"listen"`
}

// Publish tunes `isogate publish`.
type Publish struct {
	// InFlight is how many intents may await their JetStream acknowledgement
	// at once. Default: 256.
	InFlight int `yaml:"in_flight"`
	// AckTimeout bounds the wait for one acknowledgement. Default: 10s.
	AckTimeout time.Duration `yaml:"ack_timeout"`
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		DataDir:         "./data",
		ShutdownTimeout: 8 * time.Second,
		Log:             Log{Level: "info", Format: "json"},
		NATS: NATS{
			ConnectTimeout: 5 * time.Second,
			Embedded: Embedded{
				Host:         "127.0.0.1",
				Port:         4222,
				MonitorPort:  8222,
				SyncInterval: "always",
			},
			Streams: Streams{Replicas: 1, DuplicateWindow: 2 * time.Minute},
		},
		Ops:     Ops{Listen: "127.0.0.1:8080"},
		Publish: Publish{InFlight: 256, AckTimeout: 10 * time.Second},
	}
}

// Load returns the defaults, overlaid by the YAML file at path (when path is
// not empty) and then by ISOGATE_* variables read through getenv. Unknown
// YAML keys are errors. Load does not validate: apply flags, then call
// Validate.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: reading %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), EnvPrefix, getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// EnvNames lists every environment variable Load reads, in tree order.
func EnvNames() []string {
	var names []string
	walkLeaves(reflect.TypeOf(Config{}), EnvPrefix, func(name string, _ reflect.Type) {
		names = append(names, name)
	})
	return names
}

func walkLeaves(t reflect.Type, prefix string, fn func(name string, t reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlName(f)
		if tag == "" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		if f.Type.Kind() == reflect.Struct {
			walkLeaves(f.Type, name+"_", fn)
			continue
		}
		if f.Type.Kind() == reflect.Map {
			continue // maps are set in YAML only
		}
		fn(name, f.Type)
	}
}

func yamlName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

var durationType = reflect.TypeOf(time.Duration(0))

func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	t := v.Type()
	var errs []error
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlName(f)
		if tag == "" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, name+"_", getenv); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		raw := getenv(name)
		if raw == "" {
			continue
		}
		if err := setScalar(fv, raw); err != nil {
			errs = append(errs, fmt.Errorf("config: %s=%q: %w", name, raw, err))
		}
	}
	return errors.Join(errs...)
}

// setScalar parses raw into a string, int, bool or duration field.
func setScalar(fv reflect.Value, raw string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("not a duration (e.g. 30s, 2m, 1h)")
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(raw)
	case fv.Kind() == reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return errors.New("not a whole number")
		}
		fv.SetInt(int64(n))
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not true or false")
		}
		fv.SetBool(b)
	default:
		return fmt.Errorf("cannot be set from the environment (%s)", fv.Type())
	}
	return nil
}

// UnknownEnv returns the ISOGATE_* variables of environ that no setting
// reads, except those in also (variables other parts of isogate read, such
// as ISOGATE_KEY_PASSPHRASE). A typo in a variable name is otherwise silent.
func UnknownEnv(environ []string, also ...string) []string {
	known := map[string]bool{}
	for _, n := range EnvNames() {
		known[n] = true
	}
	for _, n := range also {
		known[n] = true
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			unknown = append(unknown, name)
		}
	}
	return unknown
}

// Embedded reports whether the gateway starts its own NATS server.
func (c *Config) Embedded() bool { return c.NATS.URL == "" }

// SyncAlways reports whether the embedded server fsyncs every write.
func (e Embedded) SyncAlways() bool { return e.SyncInterval == "always" }

// ClientURL is where clients reach NATS: the configured URL, or the embedded
// server's client port.
func (c *Config) ClientURL() string {
	if c.NATS.URL != "" {
		return c.NATS.URL
	}
	host := c.NATS.Embedded.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(c.NATS.Embedded.Port))
}

// StoreDir is the embedded server's store directory: the data directory
// itself, under which nats-server keeps JetStream in a "jetstream" folder.
func (c *Config) StoreDir() string { return c.DataDir }

var logLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}

// Validate reports every problem with the configuration at once, each naming
// its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if !logLevels[c.Log.Level] {
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "%q is not json or text", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	if c.NATS.ConnectTimeout <= 0 {
		bad("nats.connect_timeout", "must be positive")
	}
	if c.Embedded() {
		e := c.NATS.Embedded
		if c.DataDir == "" {
			bad("data_dir", "required for the embedded NATS server")
		}
		if e.Port != -1 && (e.Port < 1 || e.Port > 65535) {
			bad("nats.embedded.port", "%d is not a port (1-65535, or -1 for any free port)", e.Port)
		}
		if e.MonitorPort < -1 || e.MonitorPort > 65535 {
			bad("nats.embedded.monitor_port", "%d is not a port (1-65535, 0 to disable, -1 for any free port)", e.MonitorPort)
		}
		if e.Port > 0 && e.Port == e.MonitorPort {
			bad("nats.embedded.monitor_port", "same as nats.embedded.port (%d)", e.Port)
		}
		if e.Host == "" {
			bad("nats.embedded.host", "required")
		}
		if !e.SyncAlways() {
			if d, err := time.ParseDuration(e.SyncInterval); err != nil || d <= 0 {
				bad("nats.embedded.sync_interval", "%q is not \"always\" or a positive duration", e.SyncInterval)
			}
		}
		if e.MaxStore != "" {
			if _, err := ParseBytes(e.MaxStore); err != nil {
				bad("nats.embedded.max_store", "%v", err)
			}
		}
	} else {
		for _, u := range strings.Split(c.NATS.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" {
				bad("nats.url", "%q is not a URL like nats://host:4222", MaskURL(strings.TrimSpace(u)))
			}
		}
	}
	s := c.NATS.Streams
	if s.Replicas < 1 || s.Replicas > 5 {
		bad("nats.streams.replicas", "%d is not between 1 and 5", s.Replicas)
	}
	if s.DuplicateWindow <= 0 {
		bad("nats.streams.duplicate_window", "must be positive")
	}
	for name, age := range s.MaxAge {
		if !knownStream[name] {
			bad("nats.streams.max_age."+name, "no such stream (PAYMENTS, STATEMENTS, DLQ, OPS)")
		} else if age < 0 {
			bad("nats.streams.max_age."+name, "must not be negative")
		}
	}
	if c.Ops.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Ops.Listen); err != nil {
			bad("ops.listen", "%q is not host:port", c.Ops.Listen)
		}
	}
	if c.Publish.InFlight < 1 || c.Publish.InFlight > 65536 {
		bad("publish.in_flight", "%d is not between 1 and 65536", c.Publish.InFlight)
	}
	if c.Publish.AckTimeout <= 0 {
		bad("publish.ack_timeout", "must be positive")
	}
	return errors.Join(errs...)
}

var knownStream = map[string]bool{"PAYMENTS": true, "STATEMENTS": true, "DLQ": true, "OPS": true}

// ParseBytes reads a size such as 512MB, 10GB or 1048576.
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 512MB or 10GB", s)
	}
	return n * mult, nil
}

// MaskURL hides the password in a URL's user info.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "****")
	} else if u.User.Username() != "" {
		// nats://TOKEN@host carries a token as the user name.
		u.User = url.User("****")
	}
	return u.String()
}

// Masked returns a copy with every secret (a field tagged secret:"true", and
// passwords in URLs) replaced by "****", fit to print or log. Unset secrets
// stay empty, so the output still tells whether one is set.
func (c Config) Masked() Config {
	m := c
	maskSecrets(reflect.ValueOf(&m).Elem())
	m.NATS.URL = maskURLs(c.NATS.URL)
	return m
}

func maskSecrets(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			maskSecrets(fv)
		case f.Tag.Get("secret") == "true" && fv.Kind() == reflect.String && fv.String() != "":
			fv.SetString("****")
		}
	}
}

func maskURLs(list string) string {
	if list == "" {
		return ""
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = MaskURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// YAML renders the configuration as YAML, secrets masked.
func (c Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c.Masked()); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
