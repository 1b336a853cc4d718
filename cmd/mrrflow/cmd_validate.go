package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/jobs"
)

func validateCmd(e env) *cobra.Command {
	var configFile string
	var importBytes int64
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a config and read its sources, without writing anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile == "" {
				return usageError{fmt.Errorf("validate needs -c FILE")}
			}
			cfg, err := configs.Load(configFile)
			if err != nil {
				return err
			}
			rep, err := jobs.Validate(cmd.Context(), cfg, importBytes)
			if err != nil {
				return err
			}
			for _, s := range rep.Sources {
				how := ""
				if s.Partitions > 0 {
					how = fmt.Sprintf(" (in %d partitions spilled to disk)", s.Partitions)
				}
				fmt.Fprintf(e.stdout, "source %s (%s): read %s%s; %d rejected\n", s.Name, s.Kind, describeCounts(s.Read), how, s.Rejected)
				for _, r := range s.Rejections {
					fmt.Fprintf(e.stdout, "  rejected %s %s at %s: %s\n", r.Entity, r.RecordID, r.Origin, r.Error)
				}
			}
			fmt.Fprintf(e.stdout, "config %s is valid\n", configFile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file to check")
	cmd.Flags().Int64Var(&importBytes, "import-bytes", 0, "as for run: a larger GrowPanel or ChartMogul delivery is read in partitions spilled to a scratch folder, in bounded memory (default 64 MiB; -1 holds every delivery in memory)")
	return cmd
}

// describeCounts says counts by entity for people: "3 customers, 1 plan".
func describeCounts(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if m[k] != 1 {
			name += "s"
		}
		parts[i] = fmt.Sprintf("%d %s", m[k], name)
	}
	return strings.Join(parts, ", ")
}
