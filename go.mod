module github.com/cohort-mpc/cohort

go 1.26.0

require (
	github.com/rogpeppe/go-internal v1.16.0
	github.com/tuneinsight/lattigo/v6 v6.2.0
	github.com/urfave/cli/v2 v2.27.7
	go.dedis.ch/kyber/v3 v3.1.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/ALTree/bigfloat v0.2.0 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/stretchr/testify v1.10.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	go.dedis.ch/fixbuf v1.0.3 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/exp v0.0.0-20250506013437-ce4c2cf36ca6 // indirect
	golang.org/x/tools v0.33.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
