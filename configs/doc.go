// Package configs reads mrrflow's YAML config: strictly (an unknown key is
// an error naming the file and line), with defaults set before decoding,
// ${VAR} expansion, paths made relative to the config file, and a Validate
// whose errors name the field and its line.
//
// Each source kind declares its own config type and decodes its block
// with Source.Decode, in package extract.
//
// It may import: nothing of mrrflow.
package configs
