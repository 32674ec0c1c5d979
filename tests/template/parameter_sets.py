"""Parameter sets the deploy rehearsal and the static checks run the template with: the defaults,
every optional feature (in two sets, because some options exclude each other: an instance
group or a fleet, jar or EMR-step resubmission, enhanced fan-out or polling), the log archive
on its own (LogArchive: its delivery stream, subscriptions, roles and Glue table), and the
Iceberg table with the log archive (EnrichedIcebergTable: its Glue table, delivery stream,
roles and maintenance schedule)."""

ACCOUNT = "123456789012"
# Every optional feature, in two sets (some options exclude each other: instance group or fleet,
# jar or EMR-step resubmission, fan-out or polling).
WITH_VPC_FLINK_EMR_GROUP = {
    "EmrClusterId": "j-REHEARSAL1", "EmrTaskInstanceGroupId": "ig-REHEARSAL1",
    "EmrYarnResourceManagerUrl": "http://10.0.3.7:8088",
    "FlinkRestEndpoint": "http://10.0.3.7:8081", "FlinkJobName": "clickstream-sessionizer",
    "FlinkRescaleMode": "savepoint", "FlinkJarId": "abc_job.jar",
    "FunctionSubnetIds": "subnet-aaa,subnet-bbb", "FunctionSecurityGroupIds": "sg-ccc",
    "FlinkLagMetricNamespace": "flink", "FlinkLagMetricDimensionName": "JobName",
    "FlinkLagMetricDimensionValue": "clickstream-sessionizer",
    "AlertEmail": "oncall@example.com", "RetentionPipeline": "clickstream-sessionizer",
    "ScheduledSavepointPipeline": "clickstream-sessionizer", "SavepointScheduleExpression": "cron(40 */6 * * ? *)",
    "SavepointFormat": "native", "PartitionsMode": "glue", "PartitionsGlueDatabaseName": "lake",
}
WITH_MSK_FLEET_EMR_STEP = {
    "MskClusterArn": f"arn:aws:kafka:us-east-1:{ACCOUNT}:cluster/raw/0b7c8e2d-1111-2222-3333-444455556666-1",
    "MskTopic": "raw-events", "EnrichMskFailureMode": "partial", "EnrichValueFormat": "avro-glue", "MskAuthentication": "iam",
    "EmrClusterId": "j-REHEARSAL2", "EmrTaskInstanceFleetId": "if-REHEARSAL2", "EmrTaskFleetMarket": "on_demand",
    "FlinkRestEndpoint": "http://10.0.3.7:8081", "FlinkJobName": "clickstream-sessionizer",
    "FlinkRescaleMode": "savepoint", "FlinkResubmitVia": "emr_step", "FlinkStepJar": "s3://jobs/sessionizer.jar",
    "EnrichEnhancedFanOut": "false", "ReserveConcurrency": "true",
    "ExistingAlarmTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:existing-alarms",
    "ExistingPiiKeySecretArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:old-pii-key-AbCdEf",
}
WITH_LOG_ARCHIVE = {"LogArchive": "true", "LogArchiveRetentionDays": "90"}
# The Firehose-to-Iceberg destination and its scheduled maintenance, beside the log archive (the
# two add to PARTITIONS_TABLES together).
WITH_ICEBERG = {"EnrichedIcebergTable": "true", "IcebergMaintenanceRate": "rate(12 hours)", "LogArchive": "true"}
PARAMETER_SETS = {"defaults": {}, "vpc-flink-emr-group": WITH_VPC_FLINK_EMR_GROUP,
                  "msk-fleet-emr-step": WITH_MSK_FLEET_EMR_STEP, "log-archive": WITH_LOG_ARCHIVE,
                  "iceberg": WITH_ICEBERG}
