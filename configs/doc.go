// Package configs reads mrrflow's YAML config: strictly (an unknown key is
// an error naming the file and line), with defaults set before decoding,
// ${VAR} expansion, paths made relative to the config file, and a Validate
// whose errors name the field and its line.
//
// configs imports no other mrrflow package; the checks that belong to one
// source kind live with that kind in package extract.
package configs
