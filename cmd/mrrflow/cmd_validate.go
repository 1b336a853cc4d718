package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mrrflow/mrrflow/configs"
	"github.com/mrrflow/mrrflow/jobs"
)

func validateCmd(e env) *cobra.Command {
	var configFile string
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
			rep, err := jobs.Validate(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			for _, s := range rep.Sources {
				fmt.Fprintf(e.stdout, "source %s (%s): read %v, %d rejected\n", s.Name, s.Kind, s.Read, s.Rejected)
				for _, r := range s.Rejections {
					fmt.Fprintf(e.stdout, "  rejected %s %s at %s: %s\n", r.Entity, r.RecordID, r.Origin, r.Error)
				}
			}
			fmt.Fprintf(e.stdout, "config %s is valid\n", configFile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "config file to check")
	return cmd
}
