package embeddednats

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/posagent/posagent/internal/secret"
	"github.com/posagent/posagent/internal/subject"
)

// AgentUser is the user name of the agent's own in-process connection.
// Its password is drawn at random on every start and never leaves the
// process; the user may only connect in-process, so even a leaked password
// would not let a network client act as the agent.
const AgentUser = "posagent-agent"

// anonymousUser is who a client without credentials becomes when no
// register user is configured: a register, nothing more.
const anonymousUser = "posagent-register"

// AgentInboxPrefix is the inbox prefix of the agent's connection. Registers
// may subscribe to _INBOX.> (for their own replies), so the agent's replies
// (JetStream API answers, sale records, commands fetched) go elsewhere.
const AgentInboxPrefix = "_POSAGENT_INBOX"

// Roles says what a register may reach on the embedded server: the
// subjects of one store and its events stream (see RegisterPermissions).
// The zero value gives registers every right, as a bare nats-server would:
// only for tests of the server itself.
type Roles struct {
	Prefix       string // nats.subject_prefix
	StoreID      string // store_id
	EventsStream string // nats.streams.events
}

func (r Roles) set() bool { return r.Prefix != "" && r.StoreID != "" && r.EventsStream != "" }

// Credential is one register's user name and password
// (nats.embedded.auth.users_file).
type Credential struct {
	User     string
	Password secret.String
}

// RegisterPermissions is the register role: publish commands (core or
// JetStream publish, the PubAck comes back on the register's inbox), send
// status requests and micro discovery ($SRV), read the events live and
// from the events stream (stream info, ordered, ephemeral or durable
// consumers with fetch, ack and flow control, message get), and receive
// replies on _INBOX.>. Nothing else: no event publishing, no sale records
// ($KV, the KV stream), no command consumers, no stream management. The
// subjects are those nats-server v2.15 checks for each JetStream API call
// (server/jetstream_api.go).
func RegisterPermissions(r Roles) *server.Permissions {
	var pub []string
	for _, s := range r.services() {
		pub = append(pub, s.subject)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: r.streams()},
	}
}

// service is a subject a register sends requests (or plain messages) to,
// answered in the agent's account; streamed when one request may get
// several answers (discovery, fetch, batched direct gets).
type service struct {
	subject  string
	streamed bool
}

// services lists what a register may publish to: the register role's
// publish permissions, and the services the agent's account exports to
// the registers' account.
func (r Roles) services() []service {
	api, ev := "$JS.API.", r.EventsStream
	one := func(subjects ...string) []service {
		out := make([]service, len(subjects))
		for i, s := range subjects {
			out[i] = service{subject: s}
		}
		return out
	}
	list := one(subject.Commands(r.Prefix, r.StoreID, subject.Any), subject.Status(r.Prefix, r.StoreID, subject.Any),
		api+"INFO",
		api+"STREAM.NAMES", // clients that look a stream up by subject
		api+"STREAM.INFO."+ev,
		api+"STREAM.MSG.GET."+ev,
		api+"CONSUMER.CREATE."+ev, api+"CONSUMER.CREATE."+ev+".>",
		api+"CONSUMER.DURABLE.CREATE."+ev+".*",
		api+"CONSUMER.INFO."+ev+".*",
		"$JS.ACK."+ev+".>",
		"$JS.FC."+ev+".>")
	for _, s := range []string{"$SRV.>", api + "DIRECT.GET." + ev, api + "DIRECT.GET." + ev + ".>", api + "CONSUMER.MSG.NEXT." + ev + ".*"} {
		list = append(list, service{subject: s, streamed: true})
	}
	return list
}

// streams lists what a register may subscribe to: the events live, and
// its inboxes (replies, and the messages of push consumers it creates).
func (r Roles) streams() []string {
	return []string{subject.Events(r.Prefix, r.StoreID, subject.Any), "_INBOX.>"}
}

// users builds the server's users: the agent (in-process only, random
// password, every right) and the registers (the register role), or,
// without register credentials, an anonymous register role for clients
// that present none. With Roles set the registers also live in an account
// of their own (RegistersAccount, see registerAccounts). It returns the
// agent's password.
func (o Options) users(so *server.Options) (secret.String, error) {
	pw, err := randomPassword()
	if err != nil {
		return secret.String{}, err
	}
	agent := &server.User{Username: AgentUser, Password: pw.Reveal(),
		AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeInProcess: {}}}
	so.Users = []*server.User{agent}
	var perms *server.Permissions
	var regAcc *server.Account
	if o.Roles.set() {
		perms = RegisterPermissions(o.Roles)
		if so.Accounts, err = registerAccounts(o.Roles); err != nil {
			return secret.String{}, err
		}
		regAcc = so.Accounts[1]
	}
	creds := o.registers()
	if len(creds) == 0 {
		anon, err := randomPassword()
		if err != nil {
			return secret.String{}, err
		}
		so.Users = append(so.Users, &server.User{Username: anonymousUser, Password: anon.Reveal(), Permissions: perms, Account: regAcc})
		so.NoAuthUser = anonymousUser
		return pw, nil
	}
	seen := map[string]bool{AgentUser: true, anonymousUser: true}
	for _, c := range creds {
		switch {
		case c.User == "" || seen[c.User]:
			return secret.String{}, fmt.Errorf("embedded NATS: auth: register user %q: empty, reserved or used twice", c.User)
		case c.Password.Empty():
			return secret.String{}, fmt.Errorf("embedded NATS: auth: register user %q: no password", c.User)
		}
		seen[c.User] = true
		so.Users = append(so.Users, &server.User{Username: c.User, Password: c.Password.Reveal(), Permissions: perms, Account: regAcc})
	}
	return pw, nil
}

// registers lists the configured register credentials: User/Password
// first, then Registers.
func (o Options) registers() []Credential {
	var out []Credential
	if o.User != "" {
		out = append(out, Credential{User: o.User, Password: o.Password})
	}
	return append(out, o.Registers...)
}

func randomPassword() (secret.String, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return secret.String{}, errors.New("embedded NATS: no randomness for the agent's password")
	}
	return secret.New(hex.EncodeToString(b)), nil
}
