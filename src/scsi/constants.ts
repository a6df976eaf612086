/**
 * SCSI operation codes, service actions and page codes with their T10 spellings
 * (SPC-4 Annex E "Operation codes", SBC-4 "Commands for direct access block devices").
 */

export const ScsiOp = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  SEND_DIAGNOSTIC: 0x1d,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  READ_DEFECT_DATA_10: 0x37,
  WRITE_BUFFER: 0x3b,
  READ_BUFFER: 0x3c,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  SANITIZE: 0x48,
  LOG_SELECT: 0x4c,
  LOG_SENSE: 0x4d,
  MODE_SELECT_10: 0x55,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  EXTENDED_COPY: 0x83,
  RECEIVE_COPY_RESULTS: 0x84,
  READ_16: 0x88,
  COMPARE_AND_WRITE: 0x89,
  WRITE_16: 0x8a,
  ORWRITE_16: 0x8b,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  WRITE_ATOMIC_16: 0x9c,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
  READ_DEFECT_DATA_12: 0xb7,
} as const;
export type ScsiOp = (typeof ScsiOp)[keyof typeof ScsiOp];

/** SERVICE ACTION IN(16) service actions (SBC-4). */
export const ServiceActionIn16 = {
  READ_CAPACITY_16: 0x10,
  GET_LBA_STATUS: 0x12,
} as const;

/** SANITIZE service actions (SBC-4 "SANITIZE command"). */
export const SanitizeAction = {
  OVERWRITE: 0x01,
  BLOCK_ERASE: 0x02,
  CRYPTO_ERASE: 0x03,
  EXIT_FAILURE_MODE: 0x1f,
} as const;

/** MAINTENANCE IN service actions (SPC-4). */
export const MaintenanceIn = {
  REPORT_TARGET_PORT_GROUPS: 0x0a,
  REPORT_SUPPORTED_OPERATION_CODES: 0x0c,
  REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS: 0x0d,
} as const;

/** MAINTENANCE OUT service actions (SPC-4). */
export const MaintenanceOut = {
  SET_TARGET_PORT_GROUPS: 0x0a,
} as const;

/** SPC-4 "Vital product data parameters". */
export const VpdPage = {
  SUPPORTED_VPD_PAGES: 0x00,
  UNIT_SERIAL_NUMBER: 0x80,
  DEVICE_IDENTIFICATION: 0x83,
  THIRD_PARTY_COPY: 0x8f,
  BLOCK_LIMITS: 0xb0,
  BLOCK_DEVICE_CHARACTERISTICS: 0xb1,
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

/** SPC-4 / SBC-4 mode page codes. */
export const ModePage = {
  READ_WRITE_ERROR_RECOVERY: 0x01,
  CACHING: 0x08,
  CONTROL: 0x0a,
  INFORMATIONAL_EXCEPTIONS_CONTROL: 0x1c,
  ALL_PAGES: 0x3f,
} as const;

/** SAM-5 "Peripheral device type" and qualifiers used in INQUIRY byte 0. */
export const PeripheralDeviceType = {
  DIRECT_ACCESS_BLOCK: 0x00,
  UNKNOWN_OR_NONE: 0x1f,
} as const;

/** SPC-4 "Version descriptor values" (one code per standard; the generic ones). */
export const VersionDescriptor = {
  SAM_5: 0x00a0,
  SPC_4: 0x0460,
  SBC_3: 0x04c0,
  ISCSI: 0x0960,
} as const;
