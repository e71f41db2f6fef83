#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <amqp_framing.h>

/// amqp_login is variadic, so Swift cannot import it; this fixed-arity wrapper logs in with
/// AMQP_SASL_METHOD_PLAIN, the only method the Swift side uses.
static inline amqp_rpc_reply_t CRabbitMQ_login_plain(amqp_connection_state_t state, const char *vhost,
                                                    int channel_max, int frame_max, int heartbeat,
                                                    const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

/// The same login, announcing client properties (connection_name shows in the management UI and
/// `rabbitmqctl list_connections`) and the capabilities the client implements (publisher confirms,
/// connection.blocked) so that the broker sends those frames.
static inline amqp_rpc_reply_t CRabbitMQ_login_plain_with_properties(amqp_connection_state_t state, const char *vhost,
                                                                    int channel_max, int frame_max, int heartbeat,
                                                                    const amqp_table_t *properties,
                                                                    const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
