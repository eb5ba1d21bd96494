package main

import (
	"flag"
	"strings"

	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/xmlcodec"
)

// profileFlags lets the xml commands find profiles as the gateway does: a
// .yaml path, or a name looked up in profiles_dir (--profiles-dir, else
// ISOGATE_PROFILES_DIR, else the --config file) before the built-in ones.
type profileFlags struct {
	config string
	dir    string
}

func addProfileFlags(fs *flag.FlagSet) *profileFlags {
	pf := &profileFlags{}
	fs.StringVar(&pf.config, "config", "", "YAML configuration `file` whose profiles_dir overrides built-in profiles (default: ISOGATE_CONFIG)")
	fs.StringVar(&pf.dir, "profiles-dir", "", "`dir`ectory of NAME.yaml profiles that override and extend the built-in ones (profiles_dir)")
	return pf
}

// load returns the profile called nameOrPath.
func (pf *profileFlags) load(env *cliEnv, nameOrPath string) (*xmlcodec.Profile, error) {
	if strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		return xmlcodec.LoadProfile(nameOrPath)
	}
	dir := pf.dir
	if dir == "" {
		path := pf.config
		if path == "" {
			path = env.Getenv("ISOGATE_CONFIG")
		}
		cfg, err := config.Load(path, env.Getenv)
		if err != nil {
			return nil, err
		}
		dir = cfg.ProfilesDir
	}
	set, err := xmlcodec.NewProfileSet(dir)
	if err != nil {
		return nil, err
	}
	return set.Lookup(nameOrPath)
}
