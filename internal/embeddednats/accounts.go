package embeddednats

import (
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
)

// RegistersAccount is the NATS account of every register connection. The
// agent, its streams and its sale records stay in the global account
// ($G, where they have always been, so an upgraded store keeps its data).
//
// Why a second account: nats-server checks no permission on a reply
// subject. A register that may send a request may name any subject as the
// reply, and whoever answers — the agent's status and discovery replies,
// JetStream's PubAck, the JetStream API — publishes its answer there. In
// one account a reply of "$KV.posagent_S001.x" would land in the sale
// records and one of "pos.S001.POS1.evt.processed" in the events stream.
// Across accounts every request a register sends crosses a service import,
// which replaces its reply subject with a private one in the agent's
// account and carries the answer back: what a register names as a reply
// can only ever be published in its own account, which holds no stream.
const RegistersAccount = "POSAGENT_REGISTERS"

// registerAccounts returns the global account (exporting what the register
// role may reach) and the registers' account (importing it), for
// server.Options.Accounts. JetStream of the global account is enabled
// after start by enableJetStream.
func registerAccounts(r Roles) ([]*server.Account, error) {
	agent := server.NewAccount(server.DEFAULT_GLOBAL_ACCOUNT)
	regs := server.NewAccount(RegistersAccount)
	to := []*server.Account{regs}
	for _, s := range r.services() {
		rt := server.Singleton
		if s.streamed {
			rt = server.Streamed
		}
		if err := agent.AddServiceExportWithResponse(s.subject, rt, to); err != nil {
			return nil, fmt.Errorf("embedded NATS: export %s: %w", s.subject, err)
		}
		if err := regs.AddServiceImport(agent, s.subject, s.subject); err != nil {
			return nil, fmt.Errorf("embedded NATS: import %s: %w", s.subject, err)
		}
	}
	for _, subject := range r.streams() {
		if err := agent.AddStreamExport(subject, to); err != nil {
			return nil, fmt.Errorf("embedded NATS: export %s: %w", subject, err)
		}
		if err := regs.AddStreamImport(agent, subject, ""); err != nil {
			return nil, fmt.Errorf("embedded NATS: import %s: %w", subject, err)
		}
	}
	return []*server.Account{agent, regs}, nil
}

// enableJetStream turns JetStream on for the global account when the
// registers have their own account: nats-server enables it by itself only
// when the global account is the only one, and options cannot ask for it
// (the per-account limits are set by its configuration parser alone). The
// account may use what the server may (the limits are the server's
// max_memory and max_store).
func enableJetStream(ns *server.Server) error {
	acc := ns.GlobalAccount()
	if acc.JetStreamEnabled() {
		return nil
	}
	unlimited := server.JetStreamAccountLimits{MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1,
		MaxAckPending: -1, MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1}
	if err := acc.EnableJetStream(map[string]server.JetStreamAccountLimits{"": unlimited}, nil); err != nil {
		return fmt.Errorf("embedded NATS: JetStream for the agent's account: %w", err)
	}
	return nil
}
