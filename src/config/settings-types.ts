/**
 * Typed daemon settings from iscsi-gateway.cfg (ceph_iscsi_config/gateway_setting.py
 * SYS_SETTINGS, TGT_SETTINGS, TCMU_SETTINGS, TCMU_DEV_STATUS_SETTINGS) plus our
 * keys for the embedded default. settings.ts parses and validates them.
 */
export interface Settings {
  // [config]
  cluster_name: string;
  pool: string;
  cluster_client_name: string;
  gateway_conf: string;
  ceph_config_dir: string;
  api_host: string;
  api_port: number;
  api_secure: boolean;
  api_ssl_verify: boolean;
  api_user: string;
  api_password: string;
  /** Paths of the TLS certificate and key (default <ceph_config_dir>/iscsi-gateway.crt|key). */
  api_cert: string;
  api_key: string;
  trusted_ip_list: string[];
  minimum_gateways: number;
  time_out: number;
  loop_delay: number;
  priv_key: string;
  pub_key: string;
  prometheus_exporter: boolean;
  prometheus_host: string;
  prometheus_port: number;
  alua_failover_type: 'implicit' | 'explicit';
  logger_level: number;
  log_to_stderr: boolean;
  log_to_stderr_prefix: string;
  log_to_file: boolean;
  debug: boolean;
  ceph_user: string;
  // ours, for the embedded default
  /** "file" (default), "rbd", "memory". */
  backstore: 'file' | 'rbd' | 'memory';
  /** Root of pools (directories), images (sparse files), the config document and PR state. */
  data_dir: string;
  /** "file" (default): gateway.conf in data_dir; "rados": the RADOS object pool/gateway_conf. */
  config_store: 'file' | 'rados';
  iscsi_port: number;
  /** This gateway's name in the config document; default: this host's FQDN. */
  gateway_name: string;
  /** HA heartbeat lease (ms): peers declare this gateway dead after it; it fences itself at 3/4 of it. */
  ha_lease_ms: number;
  /** Guessing protection (API Basic auth, iSCSI CHAP): failures of one client before back-off; 0 = off. */
  auth_failure_threshold: number;
  /** Distinct names failing from one address before its unknown names are slowed too. */
  auth_source_threshold: number;
  auth_backoff_ms: number;
  auth_backoff_max_ms: number;
  /** Seconds. */
  auth_failure_forget: number;
  auth_max_held: number;
  iscsi_max_connections_per_ip: number;
  /** "auto" (text on a terminal, else JSON), "json", "text". */
  log_format: 'auto' | 'json' | 'text';
  /** backstore = rbd: register each open image in the mgr service map (tcmu-runner entries). */
  service_map: boolean;
  // [target]: cluster-wide defaults of the target and disk controls
  target_defaults: Record<string, number | boolean>;
  disk_defaults: Record<string, number | boolean>;
  // [device_status]
  lock_lost_cnt_threshhold: number;
  status_check_interval: number;
  stable_state_reset_count: number;
}
