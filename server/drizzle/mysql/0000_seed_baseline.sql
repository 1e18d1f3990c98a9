-- The 2018 seed's table, verbatim except IF NOT EXISTS: a database that already
-- holds it keeps it (and its rows); an empty one gets it, then both upgrade alike.
CREATE TABLE IF NOT EXISTS `servercmdhist` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `oci` char(32) NOT NULL COMMENT '命令唯一标识',
  `hostname` varchar(150) NOT NULL COMMENT '主机名',
  `serverIps` varchar(255) DEFAULT NULL COMMENT '主机ip',
  `ctime` char(19) NOT NULL COMMENT '命令执行的时间',
  `luser` varchar(32) NOT NULL COMMENT '实际登录的用户',
  `suser` varchar(32) DEFAULT NULL COMMENT '实际用户切换后的用户',
  `terminal` varchar(50) DEFAULT NULL COMMENT '登录终端类型',
  `clientIp` varchar(15) NOT NULL COMMENT '登录来源ip',
  `command` varchar(10000) NOT NULL COMMENT '执行的命令',
  PRIMARY KEY (`id`),
  UNIQUE KEY `oci` (`oci`),
  KEY `hostname` (`hostname`)
) ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=utf8;
