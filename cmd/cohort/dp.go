package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/cohort-mpc/cohort/federated/dp"
	"github.com/urfave/cli/v2"
)

func dpCommand() *cli.Command {
	return &cli.Command{
		Name:  "dp",
		Usage: "differential-privacy tools",
		Subcommands: []*cli.Command{{
			Name:  "epsilon",
			Usage: "print the (epsilon, delta) guarantee of DP-SGD by the RDP accountant, and the best RDP order",
			Description: "Composes --steps runs of the Gaussian mechanism with the given noise multiplier on a\n" +
				"Poisson subsample of rate --sample-rate (Mironov, Talwar, Zhang 2019) and converts to\n" +
				"(epsilon, delta) by Balle et al. 2020, minimised over RDP orders 1.01 to 256.",
			Flags: []cli.Flag{
				&cli.Float64Flag{Name: "noise-multiplier", Required: true, Usage: "noise standard deviation over the clip norm"},
				&cli.Float64Flag{Name: "sample-rate", Required: true, Usage: "Poisson sampling probability of each record per step"},
				&cli.IntFlag{Name: "steps", Required: true, Usage: "number of steps"},
				&cli.Float64Flag{Name: "delta", Required: true, Usage: "target delta, in (0, 1)"},
				&cli.BoolFlag{Name: "json", Usage: "print a JSON object"},
			},
			Action: func(c *cli.Context) error {
				z, q, t, d := c.Float64("noise-multiplier"), c.Float64("sample-rate"), c.Int("steps"), c.Float64("delta")
				eps, order, err := dp.Epsilon(q, z, t, d)
				if err != nil {
					return usageError{fmt.Sprintf("dp epsilon: %v", err)}
				}
				out := c.App.Writer
				if c.Bool("json") {
					b, err := json.Marshal(struct {
						Epsilon *float64 `json:"epsilon"` // null: no privacy (infinite)
						Order   float64  `json:"order"`
						Delta   float64  `json:"delta"`
						Noise   float64  `json:"noise_multiplier"`
						Rate    float64  `json:"sample_rate"`
						Steps   int      `json:"steps"`
					}{finite(eps), order, d, z, q, t})
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(out, "%s\n", b)
					return err
				}
				_, err = fmt.Fprintf(out, "epsilon %.6g (delta %g, best RDP order %g)\n", eps, d, order)
				return err
			},
		}},
	}
}

// finite returns nil for an infinite ε (no noise), which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsInf(v, 0) {
		return nil
	}
	return &v
}
