package testjob

import "testing"

func TestFile(t *testing.T) {
	got := string(Spec{Name: "x", Seed: 7, Rounds: 3, Mode: "secagg", Quorum: 2, Extra: "[dp.record]\nepsilon = 1.0\n"}.File())
	want := `name = "x"
seed = 7
rounds = 3
[dataset]
builtin = "breast_cancer"
[model]
kind = "logreg"
[sites]
quorum = 2
[local]
epochs = 1
batch_size = 16
learning_rate = 0.1
[privacy]
mode = "secagg"
[secagg]
k = 2
t = 2
[deadlines]
train = "20s"
recovery = "10s"
setup = "10s"
decision = "10s"
[dp.record]
epsilon = 1.0
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
