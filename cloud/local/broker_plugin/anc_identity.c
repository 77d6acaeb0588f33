/*
 * anc_identity: a Mosquitto 2.0 plugin that makes the broker treat identities the way
 * AWS IoT Core does for certificate-authenticated things.
 *
 *  - The username is the certificate's CN (what `use_identity_as_username` would do), so the
 *    ACL patterns `%u` name the thing. Whatever username the client sent is replaced.
 *  - The MQTT client id must equal that CN: a thing may connect only as itself
 *    (`iot:Connection.Thing.ThingName`). Anything else is refused at CONNECT
 *    (CONNACK "not authorized").
 *  - The service identity (option `service_identity`, e.g. `anc-iot-core`) may use any
 *    client id that starts with `<identity>-`, so several services connect at once.
 *
 * Mosquitto skips authentication plugins when `use_identity_as_username` is set, which is
 * why the listener must NOT set it when this plugin is loaded; `require_certificate true`
 * still makes the TLS layer reject clients without a certificate from the CA.
 *
 * Configuration:
 *   plugin <path>/anc_identity.so
 *   plugin_opt_service_identity anc-iot-core
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

#define CN_MAX 256

static mosquitto_plugin_id_t *plugin_id;
static char service_identity[CN_MAX] = "";

/* Copy the certificate's first CN into `out`; false if it has none or it does not fit. */
static bool certificate_cn(const struct mosquitto *client, char *out, size_t out_len)
{
	X509 *cert = mosquitto_client_certificate(client);
	bool found = false;
	if(cert == NULL){
		return false;
	}
	X509_NAME *subject = X509_get_subject_name(cert);
	int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	if(index >= 0){
		ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
		int length = ASN1_STRING_length(value);
		const unsigned char *data = ASN1_STRING_get0_data(value);
		/* Refuse embedded NULs and names that do not fit rather than truncating them. */
		if(length > 0 && (size_t)length < out_len && memchr(data, 0, (size_t)length) == NULL){
			memcpy(out, data, (size_t)length);
			out[length] = '\0';
			found = true;
		}
	}
	X509_free(cert);
	return found;
}

static bool client_id_allowed(const char *cn, const char *client_id)
{
	if(strcmp(cn, client_id) == 0){
		return true;
	}
	size_t id_len = strlen(service_identity);
	return id_len > 0 && strcmp(cn, service_identity) == 0
		&& strncmp(client_id, service_identity, id_len) == 0 && client_id[id_len] == '-'
		&& client_id[id_len + 1] != '\0';
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *auth = event_data;
	const char *client_id = mosquitto_client_id(auth->client);
	char cn[CN_MAX];
	(void)event;
	(void)userdata;

	if(!certificate_cn(auth->client, cn, sizeof(cn))){
		mosquitto_log_printf(MOSQ_LOG_NOTICE,
				"anc_identity: refusing client %s: no certificate CN", client_id ? client_id : "?");
		return MOSQ_ERR_AUTH;
	}
	if(client_id == NULL || !client_id_allowed(cn, client_id)){
		mosquitto_log_printf(MOSQ_LOG_NOTICE,
				"anc_identity: refusing client id '%s' for certificate CN '%s'",
				client_id ? client_id : "", cn);
		return MOSQ_ERR_AUTH;
	}
	if(mosquitto_set_username(auth->client, cn) != MOSQ_ERR_SUCCESS){
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5){
			return 5;
		}
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	plugin_id = identifier;
	for(int i = 0; i < option_count; i++){
		if(strcmp(options[i].key, "service_identity") == 0){
			if(strlen(options[i].value) >= sizeof(service_identity)){
				mosquitto_log_printf(MOSQ_LOG_ERR, "anc_identity: service_identity too long");
				return MOSQ_ERR_INVAL;
			}
			snprintf(service_identity, sizeof(service_identity), "%s", options[i].value);
		}
	}
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
}
